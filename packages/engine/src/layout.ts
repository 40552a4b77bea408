import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_JSON, GEAR_BASE, INPUT_DIR_NAME, JOB_DIRS, RESERVED_ENTRIES } from '@sprocket/types';
import { extractTarGz, gearRoot } from './archive.js';
import type { ClaimedJob, EngineClient } from './client.js';
import { diskUsage } from './disk.js';
import { parseMemory } from './resources.js';

export const DEFAULT_GEAR_CACHE_MAX = 20 * 1024 ** 3;

/** SPROCKET_GEAR_CACHE_MAX: bytes the gear cache may hold before the least recently used gears go. */
export function gearCacheMax(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SPROCKET_GEAR_CACHE_MAX;
  if (raw === undefined || raw === '') return DEFAULT_GEAR_CACHE_MAX;
  const n = parseMemory(raw);
  if (!n) throw new Error(`SPROCKET_GEAR_CACHE_MAX must be a size such as 20G, got ${JSON.stringify(raw)}`);
  return n;
}

const safeName = (gearId: string) => gearId.replace(/[^a-zA-Z0-9_.-]/g, '_');

/**
 * Extracted gear archives, one folder per gear id. A gear id names immutable content (a new
 * version is a new gear), so an entry never goes stale. Extraction happens in a private folder that
 * is renamed into place, so engines sharing the folder never see half a gear.
 *
 * The cache is bounded: after each new extraction the least recently used gears (a folder's mtime
 * is touched on each use) are removed until it holds at most `maxBytes`. A gear this engine is
 * laying out a job from is pinned and never removed; a job runs from its own copy afterwards.
 */
export class GearCache {
  private readonly pending = new Map<string, Promise<string>>();
  private readonly pins = new Map<string, number>();

  constructor(
    private readonly client: Pick<EngineClient, 'stream'>,
    readonly dir: string,
    readonly maxBytes: number = gearCacheMax(),
  ) {}

  /** Keeps the gear in the cache until `unpin`. */
  pin(gearId: string): void {
    this.pins.set(safeName(gearId), (this.pins.get(safeName(gearId)) ?? 0) + 1);
  }

  unpin(gearId: string): void {
    const n = (this.pins.get(safeName(gearId)) ?? 1) - 1;
    if (n > 0) this.pins.set(safeName(gearId), n);
    else this.pins.delete(safeName(gearId));
  }

  /** Removes least recently used, unpinned gears until the cache fits its bound. */
  async prune(): Promise<string[]> {
    let names: string[];
    try {
      names = (await fs.promises.readdir(this.dir)).filter((n) => !n.startsWith('.'));
    } catch {
      return [];
    }
    const entries = await Promise.all(
      names.map(async (name) => {
        const p = path.join(this.dir, name);
        const st = await fs.promises.stat(p).catch(() => undefined);
        return { name, p, used: st?.mtimeMs ?? 0, bytes: st ? await diskUsage(p) : 0 };
      }),
    );
    let total = entries.reduce((sum, e) => sum + e.bytes, 0);
    const removed: string[] = [];
    for (const e of entries.sort((a, b) => a.used - b.used)) {
      if (total <= this.maxBytes) break;
      if (this.pins.has(e.name) || this.pending.has(e.name)) continue;
      // Renamed first, so no engine sharing the folder finds half a gear under its name.
      const doomed = path.join(this.dir, `.prune.${e.name}.${process.pid}.${randomBytes(4).toString('hex')}`);
      try {
        await fs.promises.rename(e.p, doomed);
      } catch {
        continue;
      }
      await fs.promises.rm(doomed, { recursive: true, force: true });
      total -= e.bytes;
      removed.push(e.name);
    }
    return removed;
  }

  /** The folder holding the gear's files (manifest.json at its top). */
  get(gearId: string, archiveUri: string): Promise<string> {
    const key = safeName(gearId);
    let p = this.pending.get(key);
    if (!p) {
      // Not tied to one job's cancel: other jobs of the same gear may be waiting on this download.
      p = this.fetch(gearId, archiveUri);
      this.pending.set(key, p);
      // A failed download must not poison the cache: the next job tries again. A kept entry is
      // looked up again on the next use, in case a prune removed it meanwhile.
      p.then(
        () => this.pending.delete(key),
        () => this.pending.delete(key),
      );
    }
    return p.then(async (dir) => {
      // Touched on each use: the prune removes the least recently used first.
      const now = new Date();
      await fs.promises.utimes(path.join(this.dir, key), now, now).catch(() => {});
      return dir;
    });
  }

  private async fetch(gearId: string, archiveUri: string): Promise<string> {
    const safeId = safeName(gearId);
    const final = path.join(this.dir, safeId);
    if (fs.existsSync(final)) return gearRoot(final);
    const root = await this.extract(safeId, archiveUri, final);
    this.pin(gearId);
    try {
      await this.prune();
    } finally {
      this.unpin(gearId);
    }
    return root;
  }

  private async extract(safeId: string, archiveUri: string, final: string): Promise<string> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    const tmp = path.join(this.dir, `.${safeId}.${process.pid}.${randomBytes(4).toString('hex')}`);
    try {
      try {
        await extractTarGz(await this.client.stream(archiveUri), tmp);
      } catch (err) {
        throw new Error(`gear archive ${archiveUri} could not be read: ${(err as Error).message}`);
      }
      await gearRoot(tmp);
      try {
        await fs.promises.rename(tmp, final);
      } catch (err) {
        // Another engine on the same folder got there first; its copy is the same content.
        if (!fs.existsSync(final)) throw err;
      }
    } finally {
      await fs.promises.rm(tmp, { recursive: true, force: true });
    }
    return gearRoot(final);
  }
}

export interface PreparedLayout {
  jobDir: string;
  inputFiles: number;
  inputBytes: number;
  /** Inputs of base `api-key`: the gear will call the API, so it needs the network. */
  apiKeyInputs: string[];
}

function apiKeyInputsOf(configJson: Buffer): string[] {
  try {
    const inputs = JSON.parse(configJson.toString('utf8'))?.inputs;
    if (!inputs || typeof inputs !== 'object') return [];
    return Object.entries(inputs as Record<string, { base?: unknown }>)
      .filter(([, v]) => v && typeof v === 'object' && v.base === 'api-key')
      .map(([k]) => k);
  } catch {
    return [];
  }
}

/** Maps a path the request gives inside /flywheel/v0 to the job directory, refusing anything outside `under`. */
export function hostPath(jobDir: string, gearPath: string, under: string): string {
  const rel = path.posix.relative(GEAR_BASE, path.posix.normalize(gearPath));
  const target = path.resolve(jobDir, rel);
  const base = path.join(jobDir, under);
  if (!target.startsWith(base + path.sep)) throw new Error(`location ${gearPath} is not inside ${GEAR_BASE}/${under}`);
  return target;
}

/**
 * config.json straight from the claimed job (its `config` is that document, as in Flywheel's Job),
 * saving a request; undefined when it has api-key inputs, whose keys only `GET config.json` mints.
 */
function configFromClaim(job: ClaimedJob): Buffer | undefined {
  const payload = job.config;
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return undefined;
  const inputs = (payload as { inputs?: unknown }).inputs;
  if (!inputs || typeof inputs !== 'object') return undefined;
  if (Object.values(inputs).some((v) => !v || typeof v !== 'object' || (v as { base?: unknown }).base === 'api-key')) return undefined;
  return Buffer.from(JSON.stringify(payload));
}

/**
 * The gear's files copied into a job folder, then the folders the spec says the executor creates
 * afresh (input/, output/; config.json removed for the caller to write) and work/. Shared by the
 * engine and `sprocket gear local`, which leaves out `skip` (a local gear folder's own run leftovers).
 */
export async function layOutJobDir(gearDir: string, jobDir: string, opts: { skip?: ReadonlySet<string> } = {}): Promise<void> {
  const { skip } = opts;
  await fs.promises.mkdir(jobDir, { recursive: true });
  await fs.promises.cp(gearDir, jobDir, {
    recursive: true,
    verbatimSymlinks: true,
    preserveTimestamps: true,
    ...(skip ? { filter: (src: string) => !skip.has(path.relative(gearDir, src)) } : {}),
  });
  for (const name of RESERVED_ENTRIES) await fs.promises.rm(path.join(jobDir, name), { recursive: true, force: true });
  for (const name of JOB_DIRS) await fs.promises.mkdir(path.join(jobDir, name), { recursive: true });
}

/**
 * Lays out a job directory exactly as the gear will see /flywheel/v0: the gear's files, config.json
 * as the API serves it, input/<name>/<file> for every file input, an empty output/ and work/.
 */
export async function prepareJobDir(opts: {
  client: Pick<EngineClient, 'configJson' | 'download'>;
  gears: GearCache;
  job: ClaimedJob;
  jobDir: string;
  signal?: AbortSignal;
}): Promise<PreparedLayout> {
  const { client, job, jobDir, signal } = opts;
  const request = job.request;
  await fs.promises.rm(jobDir, { recursive: true, force: true });
  const gearId = request.gear.id ?? job.gear_id;
  opts.gears.pin(gearId);
  try {
    await layOutJobDir(await opts.gears.get(gearId, request.gear.archive), jobDir);
  } finally {
    opts.gears.unpin(gearId);
  }
  const configJson = configFromClaim(job) ?? (await client.configJson(job.id, signal));
  await fs.promises.writeFile(path.join(jobDir, CONFIG_JSON), configJson, { mode: 0o600 });

  let inputBytes = 0;
  for (const input of request.inputs) {
    const dest = hostPath(jobDir, input.location, INPUT_DIR_NAME);
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    try {
      inputBytes += await client.download(input.uri, dest, signal);
    } catch (err) {
      throw new Error(`input ${input.input} (${input.uri}) could not be downloaded: ${(err as Error).message}`);
    }
  }
  return { jobDir, inputFiles: request.inputs.length, inputBytes, apiKeyInputs: apiKeyInputsOf(configJson) };
}
