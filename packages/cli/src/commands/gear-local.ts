import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveConfig, runEnvironment } from '@sprocket/types';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { gearArgs, missingInputs, splitFlags } from '../gears/flags.js';
import { layOut, localJobId } from '../gears/local-run.js';
import { readManifest } from '../gears/manifest-file.js';
import { humanSize, info } from '../output.js';
import { currentKey } from '../session.js';

interface Options {
  dir?: string;
  sandbox: boolean;
}

export function register(parent: Command): void {
  parent
    .command('local')
    .description('run a gear on this machine, laid out as an engine would run it')
    .argument('[dir]', 'the gear folder (holding manifest.json)', '.')
    .option('--dir <jobdir>', 'job folder to lay out and run in (default: a new temporary folder)')
    .option('--no-sandbox', 'run as a plain process even when bubblewrap is installed (as root too: without it, root needs bubblewrap)')
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText(
      'after',
      `
Gear flags come from the manifest: --<input>=<local file> for each file input, --<config>=<value>
for config options (defaults fill the rest; values are checked against the manifest), and
--<context input>=<value>. The job folder gets the gear's files, config.json, input/<name>/<file>
and an empty output/; the gear runs there as /flywheel/v0 inside bubblewrap when it is installed
(read-only system, no network unless the manifest asks for it), else as a plain process. Outputs
stay in <job folder>/output.

Examples:
  $ sprocket gear local --input_file=notes.txt
  $ sprocket gear local ./my-gear --dicom=scan.dicom.zip --threshold=0.7 --verbose
  $ sprocket gear local --input_file=x.txt --dir /tmp/try1 --no-sandbox`,
    )
    .action(async (_dir: string, opts: Options, cmd: Command) => {
      const { flags, positionals } = splitFlags(cmd.args);
      if (positionals.length > 1)
        throw new CliError(`unexpected arguments: ${positionals.slice(1).join(' ')} (gear options are --<name>=<value>)`);
      const gearDir = path.resolve(positionals[0] ?? '.');
      const { manifest, warnings } = await readManifest(gearDir);
      for (const w of warnings) info(`warning: ${w}`);
      const args = gearArgs(manifest, flags);
      const files: Record<string, string> = {};
      const contexts: Record<string, string> = {};
      for (const [name, value] of Object.entries(args.inputs)) {
        if (manifest.inputs[name]!.base === 'context') {
          contexts[name] = value;
          continue;
        }
        const st = await fs.promises.stat(value).catch(() => undefined);
        if (!st?.isFile()) throw new CliError(`--${name}: no such file: ${value}`);
        files[name] = path.resolve(value);
      }
      const missing = missingInputs(manifest, files);
      if (missing.length) throw new CliError(`gear ${manifest.name} needs ${missing.map((m) => `--${m}=<file>`).join(', ')}`);

      const config = resolveConfig(manifest, args.config);
      const jobDir = path.resolve(opts.dir ?? path.join(await fs.promises.mkdtemp(path.join(os.tmpdir(), 'sprocket-gear-local-')), 'v0'));
      if (opts.dir && (await fs.promises.readdir(jobDir).catch(() => [])).length) throw new CliError(`--dir ${jobDir} is not empty`);
      const needsKey = Object.values(manifest.inputs ?? {}).some((s) => s.base === 'api-key');
      const apiKey = needsKey ? currentKey() : undefined;
      if (needsKey && !apiKey)
        info("warning: the gear takes an api-key input but you are not logged in; it gets none ('sprocket login <key>')");
      await layOut({ gearDir, jobDir, manifest, config, files, contexts, apiKey });

      const engine = await import('@sprocket/engine');
      const bwrap = new engine.BwrapExecutor();
      // --no-sandbox is the user saying, on their own machine, that the gear may run unsandboxed (as
      // root too, if that is who they are); falling back for want of bubblewrap is not, so as root that refuses.
      const executor =
        opts.sandbox && (await bwrap.available()) ? bwrap : new engine.ProcessExecutor(opts.sandbox ? {} : { allowRoot: true });
      process.stdout.write(
        `Running ${manifest.name} ${manifest.version} in ${jobDir} (${executor.name === 'bwrap' ? 'bubblewrap sandbox' : 'plain process, no sandbox'})\n`,
      );
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const started = Date.now();
      let result: Awaited<ReturnType<typeof executor.run>>;
      try {
        result = await executor.run(
          {
            jobDir,
            jobId: localJobId(),
            command: ['bash', '-c', manifest.command || './run'],
            env: runEnvironment(manifest, config),
            networking: (manifest.capabilities as string[] | undefined)?.includes('networking') ?? false,
            resources: {},
            image: null,
          },
          { stdout: (c) => process.stdout.write(c), stderr: (c) => process.stderr.write(c) },
          abort.signal,
        );
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      const outDir = path.join(jobDir, 'output');
      const outputs = (await fs.promises.readdir(outDir, { withFileTypes: true })).filter((e) => e.isFile());
      const sizes = await Promise.all(outputs.map(async (e) => (await fs.promises.stat(path.join(outDir, e.name))).size));
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      const listing = outputs.map((e, i) => `  ${e.name} (${humanSize(sizes[i])})`).join('\n');
      if (result.exitCode !== 0) {
        throw new CliError(
          `gear ${manifest.name} ${result.signal ? `was stopped by ${result.signal}` : `exited with code ${result.exitCode}`} after ${secs}s; job folder ${jobDir}`,
          result.exitCode && result.exitCode > 0 && result.exitCode < 126 ? result.exitCode : 1,
        );
      }
      process.stdout.write(
        `\nGear ${manifest.name} finished in ${secs}s. Outputs in ${outDir} (${outputs.length} files)${listing ? `:\n${listing}` : ''}\n`,
      );
    });
}
