import type { JobLogLine, JobState } from './jobs.js';

/**
 * The bodies of the engine protocol (docs/engine-protocol.md), as the server's routes accept them
 * and the engine's client sends them: one definition, so the two cannot drift apart.
 */

/** Which jobs an engine takes: each key's values (gear names, tags, groups …) are alternatives. */
export type JobSelector = Partial<Record<'gear-name' | 'tag' | 'group' | 'compute-provider', string[]>>;

/** `POST /jobs/ask`: claim up to `return.jobs` pending jobs, long-polling `wait` seconds when none is queued. */
export interface AskBody {
  capabilities?: string[];
  return?: { jobs?: number; peek?: boolean; states?: boolean };
  /** Names the engine in the job's `claimed_by` (default: the engine key's name). */
  engine?: string;
  whitelist?: JobSelector;
  blacklist?: JobSelector;
  wait?: number;
}

/** `POST /jobs/{id}/prepare-complete` and `POST /jobs/{id}/complete`: how the run ended. */
export interface FinishBody {
  success: boolean;
  exit_code?: number | null;
  failure_reason?: string | null;
  /** Run time in milliseconds, kept as the profile's `elapsed_time_ms` unless the profile has one. */
  elapsed?: number;
  profile?: Record<string, unknown>;
  /** complete only: the engine's last log lines, appended before the job ends (one request fewer). */
  logs?: JobLogLine[];
}

/** The answer to `POST /jobs/{id}/logs`: the job's state, which is how an engine learns of a cancel. */
export interface LogsReply {
  state: JobState;
}

/** The answer to `POST /jobs/{id}/prepare-complete`: the ticket the output upload and complete carry. */
export interface PrepareCompleteReply {
  ticket: string;
}

/** The answer to `POST /jobs/{id}/complete`. */
export interface CompleteReply {
  id: string;
  state: JobState;
}

/**
 * `PUT /jobs/{id}/cluster`: where a job handed to a batch scheduler stands on the cluster (Slurm's
 * own state and reason, and the scheduler's job id), shown as the job document's `cluster`.
 */
export interface ClusterState {
  scheduler: 'slurm';
  /** The scheduler's job id (Slurm's, as sbatch printed it). */
  job_id: string;
  /** The scheduler's state word: PENDING, RUNNING, COMPLETED, TIMEOUT, … */
  state: string;
  /** The scheduler's reason for that state (Resources, Priority, …), when it gives one. */
  reason?: string;
  /** In words, for people: "queued on cluster, reason: Resources". */
  summary: string;
  /** When the engine saw this state (ISO 8601). */
  updated: string;
}
