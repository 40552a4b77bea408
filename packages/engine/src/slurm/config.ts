import { EXECUTOR_CHOICES, type ExecutorChoice } from '../executors/choices.js';

/** How an engine in `slurm` mode submits jobs, read from SPROCKET_SLURM_* at start. */
export interface SlurmConfig {
  partition?: string;
  account?: string;
  qos?: string;
  /** More sbatch options, as the site writes them (`--constraint=avx2 --exclusive`). */
  extraFlags: string[];
  /** How the node-side step runs the gear on the compute node. */
  innerExecutor: Exclude<ExecutorChoice, 'slurm'>;
  /** Jobs this engine holds on the cluster at once (pending or running there). */
  maxSubmitted: number;
  /** Time between two looks at the cluster (one squeue for all jobs), ms. */
  pollMs: number;
  /** The node binary the batch script runs on the compute node (default: this engine's). */
  node: string;
  /** Where Slurm writes each job's output when the engine's folder is not shared with the nodes. */
  outputDir?: string;
}

export const SLURM_USAGE = `Slurm mode (SPROCKET_EXECUTOR=slurm): each claimed job is submitted with sbatch; on the compute
node the engine's slurm-step runs it with the executor below, talking only to the API.
  SPROCKET_SLURM_PARTITION, SPROCKET_SLURM_ACCOUNT, SPROCKET_SLURM_QOS   sbatch --partition/--account/--qos
  SPROCKET_SLURM_SBATCH_FLAGS        more sbatch options, space-separated
  SPROCKET_SLURM_EXECUTOR            executor on the compute node: bwrap (default), podman, process or auto
  SPROCKET_SLURM_MAX_SUBMITTED       jobs held on the cluster at once (default 100)
  SPROCKET_SLURM_POLL                seconds between looks at the cluster (default 1)
  SPROCKET_SLURM_NODE                node binary on the compute nodes (default: this engine's)
  SPROCKET_SLURM_OUTPUT_DIR          folder on every node for Slurm's output files, when the engine's
                                     folder (the default place) is not shared with the nodes
  SPROCKET_SLURM_STEP_DIR            node-local folder the step lays jobs out in (default: the node's tmp)`;

function optional(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v ? v : undefined;
}

export function loadSlurmConfig(env: NodeJS.ProcessEnv = process.env): SlurmConfig {
  const inner = (optional(env.SPROCKET_SLURM_EXECUTOR) ?? 'bwrap') as ExecutorChoice;
  if (inner === 'slurm' || !EXECUTOR_CHOICES.includes(inner))
    throw new Error(
      `SPROCKET_SLURM_EXECUTOR must be one of ${EXECUTOR_CHOICES.filter((c) => c !== 'slurm').join(', ')}, got ${JSON.stringify(inner)}`,
    );
  const max = Number(optional(env.SPROCKET_SLURM_MAX_SUBMITTED) ?? 100);
  if (!Number.isInteger(max) || max < 1)
    throw new Error(`SPROCKET_SLURM_MAX_SUBMITTED must be a positive integer, got ${JSON.stringify(env.SPROCKET_SLURM_MAX_SUBMITTED)}`);
  const poll = Number(optional(env.SPROCKET_SLURM_POLL) ?? 1);
  if (!Number.isFinite(poll) || poll < 0.1 || poll > 300)
    throw new Error(`SPROCKET_SLURM_POLL must be a number of seconds from 0.1 to 300, got ${JSON.stringify(env.SPROCKET_SLURM_POLL)}`);
  const extra = optional(env.SPROCKET_SLURM_SBATCH_FLAGS)?.split(/\s+/) ?? [];
  const notFlag = extra.find((f) => !f.startsWith('-'));
  if (notFlag)
    throw new Error(`SPROCKET_SLURM_SBATCH_FLAGS holds sbatch options only (each starting with -), got ${JSON.stringify(notFlag)}`);
  return {
    partition: optional(env.SPROCKET_SLURM_PARTITION),
    account: optional(env.SPROCKET_SLURM_ACCOUNT),
    qos: optional(env.SPROCKET_SLURM_QOS),
    extraFlags: extra,
    innerExecutor: inner,
    maxSubmitted: max,
    pollMs: Math.round(poll * 1000),
    node: optional(env.SPROCKET_SLURM_NODE) ?? process.execPath,
    outputDir: optional(env.SPROCKET_SLURM_OUTPUT_DIR),
  };
}
