import type { ResourceRequest } from '@sprocket/types';

/** What to run: the job directory (laid out as `/flywheel/v0`) and the request's target. */
export interface RunSpec {
  /** Host directory holding the gear files, config.json, input/, output/ and work/. */
  jobDir: string;
  /** argv, normally `["bash", "-c", "./run"]`. */
  command: string[];
  /** The complete environment of the gear (PATH, manifest environment, FW_CONFIG_*). */
  env: Record<string, string>;
  networking: boolean;
  resources: ResourceRequest;
  /** Container image the gear names, if any. */
  image: string | null;
  /** The gear's id, to fetch the image archive uploaded with it (container executors). */
  gearId?: string;
  /** Used to name containers or scheduler jobs so they can be found again. */
  jobId: string;
  /** The user and group the gear runs as (the manifest's custom.flywheel.uid/gid), when given. */
  uid?: number;
  gid?: number;
}

/** Where the gear's output goes: raw chunks, split into lines by the caller. */
export interface RunIO {
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
}

export interface RunResult {
  /** null when the gear was killed by a signal. */
  exitCode: number | null;
  signal?: string;
  /** The site limit that stopped the gear, in words (memory request, …), when one did. */
  limit?: string;
}

/**
 * One way of running a gear. The engine only ever calls these three members, so a new backend is a
 * new file implementing them plus one line in select.ts.
 *
 * Slurm is not one of these: in slurm mode (slurm/tracker.ts) the engine submits each job to the
 * cluster, and on the compute node the node-side step (slurm-step.ts) runs it with one of these
 * executors, as a local engine would.
 */
export interface Executor {
  readonly name: string;
  /** Whether this machine can run gears this way at all; checked once and cached by callers. */
  available(): Promise<boolean>;
  /**
   * Runs the gear to its end. Aborting `signal` must stop the whole process tree within seconds
   * (SIGTERM, then SIGKILL) and still resolve.
   */
  run(spec: RunSpec, io: RunIO, signal: AbortSignal): Promise<RunResult>;
}

/** Time between the polite (SIGTERM) and the forceful (SIGKILL) stop of a gear that is cancelled. */
export const KILL_GRACE_MS = 3_000;
