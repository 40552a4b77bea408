import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs a gear from gears/ the way an engine does (gear spec §1.8–1.11): a fresh folder laid out as
 * /flywheel/v0 — the gear's files, config.json with defaults filled from the manifest, each input
 * under input/<name>/, an empty output/ — then `bash -c <command or ./run>` there with only the
 * fixed PATH plus the manifest's environment. With `sandbox: 'bwrap'` the folder's entries are
 * mounted at /flywheel/v0 inside bubblewrap with nothing but /usr and /etc (read-only) from the host.
 */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const GEAR_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface GearInput {
  file: string;
  /** Name on the platform (defaults to the file's base name). */
  name?: string;
  /** The file object projection config.json carries (§1.8). */
  object?: Record<string, unknown>;
}

export interface GearRunOptions {
  gear: string;
  inputs: Record<string, GearInput>;
  config?: Record<string, unknown>;
  sandbox?: 'none' | 'bwrap';
}

export interface GearRunResult {
  dir: string;
  code: number;
  stdout: string;
  stderr: string;
  /** Files left in output/ (without .metadata.json). */
  outputs: string[];
  // biome-ignore lint/suspicious/noExplicitAny: the gear writes free-form JSON
  metadata: any;
}

export function gearDir(gear: string): string {
  return join(REPO_ROOT, 'gears', gear);
}

export function readManifest(gear: string) {
  return JSON.parse(readFileSync(join(gearDir(gear), 'manifest.json'), 'utf8')) as {
    command?: string;
    environment?: Record<string, string>;
    config: Record<string, { default?: unknown }>;
  };
}

export function layoutJob(opts: GearRunOptions): string {
  const dir = mkdtempSync(join(tmpdir(), `sprocket-gear-${opts.gear}-`));
  // What an engine unpacks from the uploaded gear archive: the gear folder as it is.
  cpSync(gearDir(opts.gear), dir, { recursive: true, filter: (src) => basename(src) !== 'test' });
  const manifest = readManifest(opts.gear);
  const config: Record<string, unknown> = {};
  for (const [k, spec] of Object.entries(manifest.config)) if (spec.default !== undefined) config[k] = spec.default;
  Object.assign(config, opts.config ?? {});
  const inputs: Record<string, unknown> = {};
  for (const [key, input] of Object.entries(opts.inputs)) {
    const name = input.name ?? basename(input.file);
    mkdirSync(join(dir, 'input', key), { recursive: true });
    copyFileSync(input.file, join(dir, 'input', key, name));
    inputs[key] = {
      base: 'file',
      hierarchy: { type: 'acquisition', id: '5f0000000000000000000001' },
      location: { name, path: `/flywheel/v0/input/${key}/${name}` },
      object: { info: {}, tags: [], measurements: [], classification: {}, mimetype: 'application/octet-stream', ...input.object },
    };
  }
  mkdirSync(join(dir, 'output'), { recursive: true });
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({ config, inputs, destination: { type: 'acquisition', id: '5f0000000000000000000001' } }, null, 2),
  );
  return dir;
}

function bwrapArgs(dir: string, env: Record<string, string>, command: string): string[] {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const l of ['lib', 'lib64', 'bin', 'sbin']) if (existsSync(`/usr/${l}`)) args.push('--symlink', `usr/${l}`, `/${l}`);
  args.push('--ro-bind', '/etc', '/etc', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  // As the engine does: a tmpfs at /flywheel/v0 with each job entry bound onto it, what the gear was
  // given (input/, config.json) read-only, so a gear writing into its inputs fails here too.
  args.push('--tmpfs', '/flywheel/v0');
  for (const entry of readdirSync(dir)) {
    const readOnly = entry === 'input' || entry === 'config.json';
    args.push(readOnly ? '--ro-bind' : '--bind', join(dir, entry), `/flywheel/v0/${entry}`);
  }
  args.push('--chdir', '/flywheel/v0', '--unshare-all', '--die-with-parent', '--clearenv');
  for (const [k, v] of Object.entries(env)) args.push('--setenv', k, k === 'FLYWHEEL' ? '/flywheel/v0' : v);
  args.push('bash', '-c', command);
  return args;
}

export async function runGearJob(opts: GearRunOptions): Promise<GearRunResult> {
  const dir = layoutJob(opts);
  const manifest = readManifest(opts.gear);
  const command = manifest.command ?? './run';
  const env: Record<string, string> = { PATH: GEAR_PATH, ...manifest.environment, FLYWHEEL: dir };
  const [cmd, args] = opts.sandbox === 'bwrap' ? ['bwrap', bwrapArgs(dir, env, command)] : ['bash', ['-c', command]];
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(cmd, args as string[], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('error', fail);
    child.on('close', (c) => done({ code: c ?? -1, stdout: out, stderr: err }));
  });
  const outDir = join(dir, 'output');
  const outputs = readdirSync(outDir)
    .filter((f) => f !== '.metadata.json')
    .sort();
  const metaPath = join(outDir, '.metadata.json');
  const metadata = existsSync(metaPath) ? JSON.parse(readFileSync(metaPath, 'utf8')) : undefined;
  return { dir, code, stdout, stderr, outputs, metadata };
}
