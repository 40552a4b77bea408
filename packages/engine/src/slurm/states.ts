/**
 * Slurm's job states in Sprocket's words. A live state becomes the cluster summary the job
 * document shows; an ended one the failure reason of a job the node-side step could not finish
 * itself (it was killed by the scheduler, or its node went away).
 */

/** States in which the job is still on the cluster (queued, starting, running, being stopped). */
const LIVE = new Set([
  'PENDING',
  'CONFIGURING',
  'RUNNING',
  'COMPLETING',
  'SUSPENDED',
  'REQUEUED',
  'REQUEUE_FED',
  'REQUEUE_HOLD',
  'RESIZING',
  'SIGNALING',
  'STAGE_OUT',
  'STOPPED',
  'RESV_DEL_HOLD',
]);

export function isLive(state: string): boolean {
  return LIVE.has(state);
}

/** What the job document shows while the job is on the cluster: "queued on cluster, reason: Resources". */
export function liveSummary(state: string, reason?: string, nodes?: string): string {
  const why = reason && reason !== 'None' && reason !== '(null)' ? `, reason: ${reason}` : '';
  switch (state) {
    case 'PENDING':
      return `queued on cluster${why}`;
    case 'CONFIGURING':
      return `starting on cluster${nodes ? ` node ${nodes}` : ''}`;
    case 'RUNNING':
      return `running on cluster${nodes ? ` node ${nodes}` : ''}`;
    case 'COMPLETING':
      return 'finishing on cluster';
    case 'SUSPENDED':
    case 'STOPPED':
      return `suspended on cluster${why}`;
    default:
      return `${state.toLowerCase().replace(/_/g, ' ')} on cluster${why}`;
  }
}

export interface EndedJob {
  state: string;
  /** scontrol's "3:0" (exit code : signal). */
  exitCode?: string;
  reason?: string;
  timeLimit?: string;
  /** Who cancelled it, when known: "Sprocket (the job was cancelled)" or sacct's "by 1000". */
  cancelledBy?: string;
}

/** The exit code and signal of scontrol's/sacct's "N:S". */
export function exitOf(exitCode?: string): { code?: number; signal?: number } {
  const m = /^(\d+):(\d+)$/.exec(exitCode ?? '');
  return m ? { code: Number(m[1]), signal: Number(m[2]) } : {};
}

/**
 * Why a job that ended on the cluster failed, or undefined when Slurm says it completed. Reasons
 * read like the engine's own (see worker.ts failureOf), with Slurm's state word for the operator.
 */
export function endedReason(slurmId: string, job: EndedJob): string | undefined {
  const where = `Slurm job ${slurmId}`;
  const { code, signal } = exitOf(job.exitCode);
  switch (job.state) {
    case 'COMPLETED':
      return code === undefined || code === 0 ? undefined : `${where} ended with exit code ${code}`;
    case 'TIMEOUT':
      return `the job exceeded its walltime on the cluster${job.timeLimit ? ` (time limit ${job.timeLimit})` : ''} and Slurm stopped it (${where}: TIMEOUT)`;
    case 'OUT_OF_MEMORY':
      return `the job ran out of memory on the cluster and Slurm killed it (${where}: OUT_OF_MEMORY)`;
    case 'NODE_FAIL':
      return `the cluster node running the job failed (${where}: NODE_FAIL)`;
    case 'BOOT_FAIL':
      return `the cluster node for the job failed to boot (${where}: BOOT_FAIL)`;
    case 'PREEMPTED':
      return `the job was preempted on the cluster by a job of higher priority (${where}: PREEMPTED)`;
    case 'DEADLINE':
      return `the job missed its deadline on the cluster (${where}: DEADLINE)`;
    case 'CANCELLED':
      return `the job was cancelled on the cluster${job.cancelledBy ? ` ${job.cancelledBy}` : ' (scancel, not by Sprocket)'} (${where}: CANCELLED)`;
    case 'FAILED':
      if (code !== undefined && code !== 0) return `the job failed on the cluster with exit code ${code} (${where}: FAILED)`;
      if (signal) return `the job was killed on the cluster by signal ${signal} (${where}: FAILED)`;
      return `the job failed on the cluster${job.reason && job.reason !== 'None' ? `: ${job.reason}` : ''} (${where}: FAILED)`;
    default:
      return `the job ended on the cluster in state ${job.state} (${where})`;
  }
}

/**
 * Endings after which the same job is submitted again: the cluster, not the gear, failed it. Asked
 * only of a Slurm job whose node-side step did not report the end of the job itself, and that step
 * reports every end of the gear (its exit code, a signal, its memory): so a batch job that FAILED
 * by a signal means the step itself was killed on the node (an operator's kill -9, a node agent
 * cleaning up, the node going down), which is no verdict on the gear.
 */
export function worthResubmitting(job: EndedJob): boolean {
  if (job.state === 'NODE_FAIL' || job.state === 'BOOT_FAIL' || job.state === 'PREEMPTED') return true;
  const { code, signal } = exitOf(job.exitCode);
  return job.state === 'FAILED' && !code && !!signal;
}
