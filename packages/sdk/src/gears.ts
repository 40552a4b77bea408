import type { GearManifest, JobPriority } from '@sprocket/types';
import { Container, FileEntry } from './containers.js';
import { SdkError } from './errors.js';
import { Job } from './jobs.js';
import { type Json, Model } from './model.js';
import { makeObject, PLURAL } from './registry.js';
import type { ContainerRef, FileRef, Origin } from './types.js';

/**
 * The gear manifest and its parts, as the gear spec defines them (`@sprocket/types`, the schema the
 * server validates uploads with), under the names this SDK has always exported.
 */
export type { ConfigSpec as GearConfigSpec, GearManifest, InputSpec as GearInputSpec } from '@sprocket/types';

export type InputValue = FileEntry | FileRef | Container | ContainerRef;

export interface GearRunOptions {
  /** Input name → file (a FileEntry, or `{type, id, name}`). */
  inputs?: Record<string, InputValue>;
  /** Config values; the rest come from the manifest's defaults. */
  config?: Json;
  /** Where outputs go (the container object or `{type, id}`); defaults to the first input's container. */
  destination?: Container | ContainerRef;
  tags?: string[];
  /** Analysis gears: the analysis label (default `<gear name> <YYYY-MM-DD HH:MM:SS>`). */
  analysisLabel?: string;
  priority?: JobPriority;
}

export interface ProposeBatchOptions {
  config?: Json;
  priority?: JobPriority;
  tags?: string[];
  analysisLabel?: string;
  optionalInputPolicy?: 'ignored' | 'flexible' | 'required';
  /** Only look: the server stores no batch, and the proposal's id is null (nothing to run or cancel). */
  dryRun?: boolean;
}

function toRef(x: InputValue): FileRef | ContainerRef {
  if (x instanceof FileEntry) return x.ref();
  if (x instanceof Container) return x.ref();
  return x;
}

const pad = (n: number) => String(n).padStart(2, '0');
/** Local time as Flywheel's SDK stamps analysis labels. */
export function labelTimestamp(d = new Date()): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A gear document: the manifest under `gear`, its `category`, and ways to run it. */
export class Gear extends Model {
  declare category: 'utility' | 'analysis' | 'converter' | 'qa' | 'classifier' | string;
  declare gear: GearManifest;
  declare exchange?: Json;
  declare created: string;
  declare modified: string;

  get name(): string {
    return this.gear.name;
  }

  get version(): string {
    return this.gear.version;
  }

  get isAnalysis(): boolean {
    return this.category === 'analysis';
  }

  /** The manifest's config defaults, as Flywheel's SDK fills them before sending. */
  configDefaults(): Json {
    const out: Json = {};
    for (const [k, spec] of Object.entries(this.gear.config ?? {})) if (spec && spec.default !== undefined) out[k] = spec.default;
    return out;
  }

  getInvocation(): Promise<Json> {
    return this.client.transport.json<Json>('getGearInvocation', { params: { id: this.id } });
  }

  /**
   * Queues the gear. Utility gears: one job (`POST /jobs/add`), returning the job id. Analysis
   * gears: a new analysis on the destination with its job, returning the analysis id.
   */
  async run(opts: GearRunOptions = {}): Promise<string> {
    const inputs: Record<string, FileRef | ContainerRef> = {};
    for (const [k, v] of Object.entries(opts.inputs ?? {})) inputs[k] = toRef(v);
    const config = { ...this.configDefaults(), ...(opts.config ?? {}) };
    const tags = opts.tags ?? [];
    let destination = opts.destination ? toRef(opts.destination) : undefined;
    if (destination && 'name' in destination) destination = { type: destination.type, id: destination.id };
    const job: Json = { gear_id: this.id, inputs, config, tags, ...(opts.priority ? { priority: opts.priority } : {}) };

    if (!this.isAnalysis) {
      const res = await this.client.transport.json<{ _id?: string; id?: string }>('addJob', {
        body: { ...job, ...(destination ? { destination } : {}) },
      });
      return String(res._id ?? res.id);
    }
    const dest = destination ?? Object.values(inputs).find((r): r is FileRef => 'name' in r);
    if (!dest) throw new SdkError(`gear ${this.name} is an analysis gear: give a destination (or a file input)`);
    if (!PLURAL[dest.type] || dest.type === 'group' || dest.type === 'analysis') {
      throw new SdkError(`an analysis cannot be created on a ${dest.type}`);
    }
    const label = opts.analysisLabel ?? `${this.name} ${labelTimestamp()}`;
    const res = await this.client.transport.json<{ _id: string }>('addAnalysis', {
      params: { cont: PLURAL[dest.type]!, id: dest.id },
      body: { label, job },
    });
    return res._id;
  }

  /** Asks the API which of the containers' files the gear would run on; run the proposal with `.run()`. */
  async proposeBatch(containers: (Container | ContainerRef)[], opts: ProposeBatchOptions = {}): Promise<BatchProposal> {
    const body: Json = {
      gear_id: this.id,
      targets: containers.map((c) => (c instanceof Container ? c.ref() : { type: c.type, id: c.id })),
      optional_input_policy: opts.optionalInputPolicy ?? 'ignored',
      ...(opts.config ? { config: opts.config } : {}),
      ...(opts.tags ? { tags: opts.tags } : {}),
      ...(opts.priority ? { priority: opts.priority } : {}),
      ...(this.isAnalysis ? { analysis: { label: opts.analysisLabel ?? `${this.name} ${labelTimestamp()}` } } : {}),
    };
    return new BatchProposal(
      this.client,
      await this.client.transport.json<Json>('proposeBatch', { body, ...(opts.dryRun ? { query: { dry_run: true } } : {}) }),
    );
  }

  async delete(): Promise<void> {
    await this.client.transport.json('deleteGear', { params: { id: this.id } });
  }
}

/** Containers in a proposal become SDK objects when the API says what they are. */
function containersOf(client: Model['client'], list: unknown): unknown {
  if (!Array.isArray(list)) return list;
  return list.map((c: Json) => {
    const type = (c.container_type ?? c.type) as string | undefined;
    return type && PLURAL[type] && type !== 'group' ? makeObject(client, type, c) : c;
  });
}

const jobsOf = (client: Model['client'], list: unknown): Job[] =>
  ((Array.isArray(list) ? list : []) as (Json | string)[]).map((j) => new Job(client, typeof j === 'string' ? { id: j } : j));

async function startBatch(client: Model['client'], id: string): Promise<Job[]> {
  const res = await client.transport.json<unknown>('startBatch', { params: { id } });
  return jobsOf(client, Array.isArray(res) ? res : (res as { jobs?: unknown } | undefined)?.jobs);
}

async function cancelBatch(client: Model['client'], id: string): Promise<number> {
  const res = await client.transport.json<{ number_cancelled?: number }>('cancelBatch', { params: { id } });
  return res?.number_cancelled ?? 0;
}

/** What a batch would run (matched), and what it could not (ambiguous, not_matched, no permission). */
export class BatchProposal extends Model {
  declare gear_id: string;
  declare state: string;
  declare config?: Json;
  declare origin?: Origin;
  declare proposal?: Json;
  declare matched: Container[];
  declare ambiguous: Container[];
  declare not_matched: Container[];
  declare improper_permissions: string[];
  declare optional_input_policy?: string;
  /** Labels and paths of the listed containers and their parents, by id (Sprocket). */
  declare containers?: Record<string, { _id: string; label: string; container_type: string; path: string }>;
  declare created: string;
  declare modified: string;

  protected override convert(key: string, value: unknown): unknown {
    if (key === 'matched' || key === 'ambiguous' || key === 'not_matched') return containersOf(this.client, value);
    return value;
  }

  /** Queues one job per matched entry; returns the jobs. */
  run(): Promise<Job[]> {
    return startBatch(this.client, this.id);
  }

  /** Cancels the batch's still-pending jobs; returns how many. */
  cancel(): Promise<number> {
    return cancelBatch(this.client, this.id);
  }
}

/** A batch that was proposed, and perhaps run. */
export class Batch extends Model {
  declare gear_id: string;
  declare state: string;
  declare config?: Json;
  declare origin?: Origin;
  /** Job ids (or job documents when fetched with `jobs: true`). */
  declare jobs: (string | Json)[];
  /** How many jobs are in each state. */
  declare job_states?: Record<string, number>;
  /** How many containers the proposal matched. */
  declare matched?: number;
  /** The gear's name and version (Sprocket). */
  declare gear_info?: { id: string; name: string; version: string };
  /** What the batch was proposed over, with each one's path (Sprocket; absent for older batches). */
  declare targets?: { type: string; id: string; path?: string }[];
  declare created: string;
  declare modified: string;

  async reload(): Promise<this> {
    this.assign(await this.client.transport.json<Json>('getBatch', { params: { id: this.id } }), true);
    return this;
  }

  /** The batch's jobs, fetched with their current state. */
  async getJobs(): Promise<Job[]> {
    const doc = await this.client.transport.json<Json>('getBatch', { params: { id: this.id }, query: { jobs: true } });
    return jobsOf(this.client, doc.jobs);
  }

  run(): Promise<Job[]> {
    return startBatch(this.client, this.id);
  }

  cancel(): Promise<number> {
    return cancelBatch(this.client, this.id);
  }

  /** Re-queues the batch's failed jobs (Sprocket extension), optionally only some exit codes, optionally with more memory; returns the new job ids. */
  async retryFailed(opts: { exitCodes?: number[]; memory?: string } = {}): Promise<string[]> {
    const body: Json = { ...(opts.exitCodes ? { exit_codes: opts.exitCodes } : {}), ...(opts.memory ? { memory: opts.memory } : {}) };
    const res = await this.client.transport.json<unknown>('retryFailedBatch', { params: { id: this.id }, body });
    const list = Array.isArray(res) ? res : ((res as { jobs?: unknown[] } | undefined)?.jobs ?? []);
    return (list as (Json | string)[]).map((j) => (typeof j === 'string' ? j : String(j._id ?? j.id)));
  }
}
