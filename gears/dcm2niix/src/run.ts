import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { GearError, loadContext, logger, removeWorkDir, requireInput, runGear, workDir } from '../../lib/src/context.js';
import { removeIncompleteVolumes } from './incomplete.js';
import { planConversion } from './options.js';
import { collectOutputs, combineCoils, writeMetadata } from './outputs.js';
import { listFiles, prepareInput } from './prepare.js';

const log = logger('dcm2niix');

/** Lines of dcm2niix's output that say why it could not convert, for the failure reason. */
function reasons(lines: string[]): string {
  const picked = lines.filter((l) => /error|warning|unsupported|no valid|unable|not supported|decompress/i.test(l));
  return (picked.length ? picked : lines.slice(-3)).map((l) => l.trim()).join('; ');
}

function runDcm2niix(args: string[]): Promise<{ code: number; lines: string[] }> {
  return new Promise((resolve, reject) => {
    log.info(`dcm2niix ${args.map((a) => (/[\s'"%]/.test(a) ? `'${a}'` : a)).join(' ')}`);
    const child = spawn('dcm2niix', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const tee = (chunk: Buffer, to: NodeJS.WriteStream) => {
      to.write(chunk);
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l.trim()),
      );
    };
    child.stdout.on('data', (c: Buffer) => tee(c, process.stdout));
    child.stderr.on('data', (c: Buffer) => tee(c, process.stderr));
    child.on('error', (err) =>
      reject(new GearError(`cannot run dcm2niix (${err.message}); it is Debian's 'dcm2niix' package, expected on the PATH`)),
    );
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), lines }));
  });
}

function decompressDicoms(dir: string): void {
  const files = listFiles(dir);
  log.info(`decompressing ${files.length} file(s) with gdcmconv --raw`);
  for (const f of files) {
    const r = spawnSync('gdcmconv', ['--raw', f, f], { encoding: 'utf8' });
    if (r.error) throw new GearError(`decompress_dicoms needs gdcmconv (Debian package libgdcm-tools): ${r.error.message}`);
    // A file gdcm cannot read is left as it is; dcm2niix then decides whether it is an image.
    if (r.status !== 0) log.warn(`gdcmconv could not decompress ${f.split('/').pop()}: ${(r.stderr || r.stdout).trim()}`);
  }
}

async function main(): Promise<void> {
  const ctx = loadContext(import.meta.url);
  const input = requireInput(ctx, 'dcm2niix_input');
  log.info(`input ${input.name} (type ${input.object.type ?? 'unknown'})`);
  const work = workDir(ctx);
  try {
    const prepared = await prepareInput(input.path, input.name, work);
    log.info(`${prepared.kind === 'zip' ? 'extracted' : 'prepared'} ${prepared.files} file(s) into ${prepared.dir}`);
    const out = join(work, 'out');
    mkdirSync(out, { recursive: true });
    const plan = planConversion(ctx.config, prepared.dir, out);
    for (const note of plan.notes) log.info(note);

    if (plan.removeIncompleteVolumes) removeIncompleteVolumes(prepared.dir, log);
    if (plan.decompress) decompressDicoms(prepared.dir);

    const { code, lines } = await runDcm2niix(plan.args);
    const produced = existsSync(out) ? readdirSync(out) : [];
    if (code !== 0) {
      const why = `dcm2niix could not convert ${input.name} (exit status ${code}): ${reasons(lines)}`;
      if (!plan.ignoreErrors || produced.length === 0) throw new GearError(why, code);
      log.warn(`${why} — ignore_errors is set, keeping ${produced.length} output(s); check the data`);
    }
    if (plan.coilCombine) combineCoils(out, log.info);

    const files = collectOutputs({ from: out, to: ctx.outputDir, keepSidecar: plan.keepSidecar, input: input.object });
    writeMetadata(ctx.outputDir, files);
    if (files.length === 0) log.warn('dcm2niix converted nothing (all images ignored?)');
    for (const f of files) log.info(`output ${f.name} (${f.type ?? 'untyped'})`);
  } finally {
    removeWorkDir(work);
  }
}

runGear('dcm2niix', main);
