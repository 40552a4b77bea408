import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { extractTarGz, gearRoot } from './archive.js';
import type { ClaimedJob, EngineClient } from './client.js';
import { GEAR_BASE } from './executors/executor.js';

/** What the spec says the executor creates afresh, whatever the gear shipped under those names. */
const RESERVED = ['config.json', 'input', 'output'];

/**
 * Extracted gear archives, one folder per gear id. A gear id names immutable content (a new
 * version is a new gear), so an entry never goes stale. Extraction happens in a private folder that
 * is renamed into place, so engines sharing the folder never see half a gear.
 */
export class GearCache {
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    private readonly client: Pick<EngineClient, 'stream'>,
    readonly dir: string,
  ) {}

  /** The folder holding the gear's files (manifest.json at its top). */
  get(gearId: string, archiveUri: string): Promise<string> {
    let p = this.pending.get(gearId);
    if (!p) {
      // Not tied to one job's cancel: other jobs of the same gear may be waiting on this download.
      p = this.fetch(gearId, archiveUri);
      this.pending.set(gearId, p);
      // A failed download must not poison the cache: the next job tries again.
      p.catch(() => this.pending.delete(gearId));
    }
    return p;
  }

  private async fetch(gearId: string, archiveUri: string): Promise<string> {
    const safeId = gearId.replace(/[^a-zA-Z0-9_.-]/g, '_');
    const final = path.join(this.dir, safeId);
    if (fs.existsSync(final)) return gearRoot(final);
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
  const gearDir = await opts.gears.get(request.gear.id ?? job.gear_id, request.gear.archive);
  await fs.promises.cp(gearDir, jobDir, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  for (const name of RESERVED) await fs.promises.rm(path.join(jobDir, name), { recursive: true, force: true });
  await fs.promises.mkdir(path.join(jobDir, 'input'));
  await fs.promises.mkdir(path.join(jobDir, 'output'));
  await fs.promises.mkdir(path.join(jobDir, 'work'), { recursive: true });
  const configJson = configFromClaim(job) ?? (await client.configJson(job.id, signal));
  await fs.promises.writeFile(path.join(jobDir, 'config.json'), configJson, { mode: 0o600 });

  let inputBytes = 0;
  for (const input of request.inputs) {
    const dest = hostPath(jobDir, input.location, 'input');
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    try {
      inputBytes += await client.download(input.uri, dest, signal);
    } catch (err) {
      throw new Error(`input ${input.input} (${input.uri}) could not be downloaded: ${(err as Error).message}`);
    }
  }
  return { jobDir, inputFiles: request.inputs.length, inputBytes, apiKeyInputs: apiKeyInputsOf(configJson) };
}
