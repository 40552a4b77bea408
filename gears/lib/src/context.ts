import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * What a gear sees of its run: the gear spec's /flywheel/v0 layout (§1.8–1.9). The base folder is
 * `$FLYWHEEL` when set, else the folder above the bundled script, so the same bundle runs under an
 * engine, inside a sandbox mounted at /flywheel/v0, and in any local folder laid out the same way.
 */
export interface FileObject {
  info?: Record<string, unknown>;
  tags?: string[];
  classification?: Record<string, unknown>;
  modality?: string | null;
  type?: string | null;
  mimetype?: string;
  size?: number;
}

export interface InputFile {
  /** File name as the platform knows it (config.json `location.name`). */
  name: string;
  /** Where the file is on this machine. */
  path: string;
  object: FileObject;
}

export interface GearContext {
  base: string;
  manifest: { name: string; version: string; config?: Record<string, { default?: unknown }> };
  /** Manifest defaults overlaid with config.json's `config` (a local run without config.json gets defaults). */
  config: Record<string, unknown>;
  inputs: Record<string, InputFile>;
  destination?: { type: string; id: string };
  outputDir: string;
}

export class GearError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

function gearBase(entryUrl: string): string {
  const env = process.env.FLYWHEEL;
  if (env && existsSync(join(env, 'manifest.json'))) return resolve(env);
  // The bundle lives in <gear>/dist/, the sources in <gear>/src/: either way the gear is one level up.
  return resolve(dirname(fileURLToPath(entryUrl)), '..');
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new GearError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

interface ConfigJson {
  config?: Record<string, unknown>;
  inputs?: Record<string, { base?: string; location?: { name?: string; path?: string }; object?: FileObject }>;
  destination?: { type: string; id: string };
}

/**
 * config.json's `location.path` is absolute (/flywheel/v0/input/…), which only exists when the
 * base really is /flywheel/v0; the file is looked up under this run's own input folder first.
 */
function locateInput(base: string, key: string, loc: { name?: string; path?: string } | undefined): InputFile['path'] | undefined {
  const dir = join(base, 'input', key);
  if (loc?.name && existsSync(join(dir, loc.name))) return join(dir, loc.name);
  if (loc?.path && existsSync(loc.path)) return loc.path;
  if (!existsSync(dir)) return undefined;
  const files = readdirSync(dir).filter((f) => !f.startsWith('.') && statSync(join(dir, f)).isFile());
  return files.length === 1 ? join(dir, files[0]!) : undefined;
}

export function loadContext(entryUrl: string): GearContext {
  const base = gearBase(entryUrl);
  const manifest = readJson(join(base, 'manifest.json')) as GearContext['manifest'];
  const configPath = join(base, 'config.json');
  const cfg: ConfigJson = existsSync(configPath) ? (readJson(configPath) as ConfigJson) : {};

  const config: Record<string, unknown> = {};
  for (const [k, spec] of Object.entries(manifest.config ?? {})) if (spec.default !== undefined) config[k] = spec.default;
  for (const [k, v] of Object.entries(cfg.config ?? {})) if (v !== null && v !== undefined) config[k] = v;

  const inputs: Record<string, InputFile> = {};
  const keys = new Set([...Object.keys(cfg.inputs ?? {}), ...readdirIfExists(join(base, 'input'))]);
  for (const key of keys) {
    const entry = cfg.inputs?.[key];
    if (entry && entry.base !== undefined && entry.base !== 'file') continue;
    const path = locateInput(base, key, entry?.location);
    if (!path) continue;
    inputs[key] = { name: entry?.location?.name ?? path.split('/').pop()!, path, object: entry?.object ?? {} };
  }

  const outputDir = join(base, 'output');
  mkdirSync(outputDir, { recursive: true });
  return { base, manifest, config, inputs, destination: cfg.destination, outputDir };
}

function readdirIfExists(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((d) => statSync(join(dir, d)).isDirectory()) : [];
}

/**
 * Scratch space: `work/` in the base folder (the SDK's convention), or a temp dir when the base is
 * read-only (a sandbox that binds only input/ and output/ writable).
 */
export function workDir(ctx: GearContext): string {
  const preferred = join(ctx.base, 'work');
  try {
    mkdirSync(preferred, { recursive: true });
    return mkdtempSync(join(preferred, 'run-'));
  } catch {
    return mkdtempSync(join(tmpdir(), `${ctx.manifest.name}-`));
  }
}

/** Removes a workDir() and, when nothing else is left in it, the `work/` folder it was made in. */
export function removeWorkDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  try {
    rmdirSync(dirname(dir));
  } catch {
    // Not empty, or not ours to remove: leave it.
  }
}

export function requireInput(ctx: GearContext, key: string): InputFile {
  const input = ctx.inputs[key];
  if (!input) throw new GearError(`no file for input '${key}' under ${join(ctx.base, 'input', key)}`);
  return input;
}

export function logger(prefix: string) {
  return {
    info: (msg: string) => process.stdout.write(`[${prefix}] ${msg}\n`),
    warn: (msg: string) => process.stdout.write(`[${prefix}] WARNING: ${msg}\n`),
    error: (msg: string) => process.stderr.write(`[${prefix}] ERROR: ${msg}\n`),
  };
}

/** Runs a gear's main, turning failures into a reason on stderr and a non-zero exit (spec §1.11). */
export function runGear(prefix: string, main: () => Promise<void>): void {
  const log = logger(prefix);
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      log.error(err instanceof Error ? err.message : String(err));
      if (!(err instanceof GearError) && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
      process.exit(err instanceof GearError ? err.exitCode : 1);
    },
  );
}
