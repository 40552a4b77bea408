import { type ClusterState, JOB_STATES, type JobState, TERMINAL_STATES } from '@sprocket/types';
import { type Json, Model, type ModelContext } from './model.js';
import type { Transport } from './transport.js';
import type { ContainerRef, FileRef, JobLog, Origin } from './types.js';

/** Narrowing for job listings: `states`/`tags` match any of the given values. */
export interface JobListOptions {
  states?: string[];
  tags?: string[];
  filter?: string;
  sort?: string;
  limit?: number;
}

export const jobQuery = (o: JobListOptions & { gear?: string }) => ({
  states: o.states,
  tags: o.tags,
  filter: o.filter,
  sort: o.sort,
  limit: o.limit,
  gear: o.gear,
});

/** A listing's `containers` entry: where its jobs ran, by container id (Sprocket adds `path`). */
export interface ContainerLabel {
  _id: string;
  label: string;
  container_type: string;
  /** group/project/subject/session/acquisition labels (analyses end in analyses/<label>). */
  path: string;
}

/** Jobs with the labels and paths of the containers they name, fetched in the same request. */
export interface JobListing {
  jobs: Job[];
  containers: Record<string, ContainerLabel>;
  total?: number;
}

/** Who launched a job, for people: the user id, `rule:<name>` for gear rules, else `<type>:<id>`. */
export function launchedBy(origin: Origin | undefined): string {
  if (!origin) return '';
  const via = origin.via as (Origin['via'] & { name?: string }) | undefined;
  if (via?.type === 'rule') return `rule:${via.name ?? via.id}`;
  if (origin.type === 'user') return origin.id;
  return `${origin.type}:${origin.id}`;
}

export interface GearInfo {
  id: string;
  category: string;
  name: string;
  version: string;
  capabilities?: string[];
}

/** A gear run: its inputs, destination, config and where it is in its life. */
export class Job extends Model {
  declare gear_id: string;
  declare gear_info: GearInfo;
  declare state: JobState;
  declare inputs: Record<string, FileRef & Json>;
  declare destination: ContainerRef;
  declare config: Json;
  declare tags: string[];
  declare label?: string;
  declare priority?: string;
  declare attempt: number;
  declare previous_job_id?: string | null;
  declare origin: Origin;
  declare failure_reason?: string | null;
  declare exit_code?: number | null;
  /** When each state was entered. */
  declare transitions: Partial<Record<JobState, string>>;
  declare profile?: Json;
  declare saved_files?: string[];
  declare produced_metadata?: Json;
  declare batch?: string | null;
  declare related_container_ids?: string[];
  /** Where the job stands on the batch cluster (Slurm) its engine handed it to; absent otherwise. */
  declare cluster?: ClusterState;
  declare created: string;
  declare modified: string;

  get terminal(): boolean {
    return TERMINAL_STATES.includes(this.state);
  }

  async reload(): Promise<this> {
    this.assign(await this.client.transport.json<Json>('getJob', { params: { id: this.id } }), true);
    return this;
  }

  /** The log as `{fd, msg}` lines (fd 1 stdout, 2 stderr, -1 system). */
  getLogs(): Promise<JobLog> {
    return jobLogs(this.client.transport, this.id);
  }

  /** The log as the gear printed it. */
  async getLogText(): Promise<string> {
    // Engines send whole lines with or without their newline; text gets one per line either way.
    return (await this.getLogs()).logs.map((l) => (l.msg.endsWith('\n') ? l.msg : `${l.msg}\n`)).join('');
  }

  getDetail(): Promise<Json> {
    return this.client.transport.json<Json>('getJobDetail', { params: { id: this.id } });
  }

  async changeState(state: JobState): Promise<this> {
    await this.client.transport.json('modifyJob', { params: { id: this.id }, body: { state } });
    return this.reload();
  }

  /** Cancels a pending or running job. */
  cancel(): Promise<this> {
    return this.changeState('cancelled');
  }

  /** Queues a new attempt of a failed job (`ignoreState`: also of a complete or cancelled one); returns its id. */
  retry(opts: { ignoreState?: boolean } = {}): Promise<string> {
    return retryJob(this.client.transport, this.id, opts);
  }

  /** Resolves once the job is complete, failed or cancelled. */
  async wait(opts: WaitOptions = {}): Promise<this> {
    await waitForJobs(this.client, [this.id], opts);
    return this.reload();
  }
}

export interface WaitProgress {
  total: number;
  /** Jobs in a terminal state. */
  done: number;
  counts: Record<JobState, number>;
  /** The latest state of every job, in the order asked for. */
  jobs: Job[];
}

export interface WaitOptions {
  /** Called after every poll round with the counts so far. */
  onProgress?: (p: WaitProgress) => void;
  /** Time between poll rounds (default 1000 ms). */
  pollMs?: number;
  /** Give up (ApiError-free rejection) after this long; default: wait as long as it takes. */
  timeoutMs?: number;
  /** Concurrent GETs per round (default 8). */
  concurrency?: number;
}

/**
 * Polls `GET /jobs/{id}` for each unfinished job until every one is terminal, then resolves with
 * the final job objects (in the order given). Finished jobs are not polled again.
 */
export async function waitForJobs(client: ModelContext, ids: (string | Job)[], opts: WaitOptions = {}): Promise<Job[]> {
  const order = ids.map((j) => (typeof j === 'string' ? j : j.id));
  const latest = new Map<string, Job>();
  const pollMs = opts.pollMs ?? 1000;
  const started = Date.now();
  for (;;) {
    const pending = [...new Set(order)].filter((id) => !latest.get(id)?.terminal);
    const workers = Math.max(1, Math.min(opts.concurrency ?? 8, pending.length));
    let next = 0;
    await Promise.all(
      Array.from({ length: workers }, async () => {
        while (next < pending.length) {
          const id = pending[next++]!;
          latest.set(id, new Job(client, await client.transport.json<Json>('getJob', { params: { id } })));
        }
      }),
    );
    const jobs = order.map((id) => latest.get(id)!);
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const j of jobs) counts[j.state] = (counts[j.state] ?? 0) + 1;
    const done = jobs.filter((j) => j.terminal).length;
    opts.onProgress?.({ total: jobs.length, done, counts, jobs });
    if (done === jobs.length) return jobs;
    if (opts.timeoutMs !== undefined && Date.now() - started > opts.timeoutMs) {
      throw new Error(`waitForJobs: ${jobs.length - done} of ${jobs.length} jobs still unfinished after ${opts.timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** A job's log as `{fd, msg}` lines. */
export async function jobLogs(t: Transport, id: string): Promise<JobLog> {
  const doc = await t.json<Json>('getJobLogs', { params: { id } });
  return { id: String(doc._id ?? doc.id ?? id), logs: (doc.logs as JobLog['logs']) ?? [] };
}

/** Queues a new attempt of a job; returns its id. */
export async function retryJob(t: Transport, id: string, opts: { ignoreState?: boolean } = {}): Promise<string> {
  const res = await t.json<{ _id?: string; id?: string }>('retryJob', { params: { id }, query: { ignoreState: opts.ignoreState } });
  return String(res._id ?? res.id);
}
