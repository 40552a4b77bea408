/** Job states and the only transitions between them (Flywheel's queue: scitran/core api/jobs/queue.py). */
export const JOB_STATES = ['pending', 'running', 'complete', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const JOB_TRANSITIONS: Record<JobState, readonly JobState[]> = {
  pending: ['running', 'cancelled'],
  running: ['complete', 'failed', 'cancelled'],
  complete: [],
  failed: [],
  cancelled: [],
};

export const TERMINAL_STATES: readonly JobState[] = ['complete', 'failed', 'cancelled'];

export function canTransition(from: JobState, to: JobState): boolean {
  return JOB_TRANSITIONS[from].includes(to);
}

/** Claim order: higher first. */
export const JOB_PRIORITIES = { low: 0, medium: 1, high: 2, critical: 3 } as const;
export type JobPriority = keyof typeof JOB_PRIORITIES;

/** Log line channels: stdout, stderr, and lines the system adds (cancel, orphan, retry …). */
export const LOG_FD = { stdout: 1, stderr: 2, system: -1 } as const;

export interface JobLogLine {
  fd: number;
  msg: string;
}

/** Per-job resource requests; executors honour what they can. */
export interface ResourceRequest {
  cpu?: number;
  /** e.g. "2G", "512M" */
  memory?: string;
  gpu?: number;
  /** seconds */
  walltime?: number;
}

/** The engine's instructions for one job (the `request` of a claimed job). */
export interface JobRequest {
  gear: { id: string; archive: string };
  inputs: { input: string; uri: string; location: string; size: number }[];
  target: {
    command: string[];
    env: Record<string, string>;
    dir: string;
    networking: boolean;
    image: string | null;
    resources: ResourceRequest;
    uid?: number;
    gid?: number;
  };
  outputs: { uri: string }[];
}
