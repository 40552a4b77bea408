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
