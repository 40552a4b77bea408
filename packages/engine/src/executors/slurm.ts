import type { ResourceRequest } from '@sprocket/types';
import { parseMemory } from '../resources.js';
import { run } from '../slurm/commands.js';
import type { SlurmConfig } from '../slurm/config.js';

/**
 * The Slurm side of the `slurm` engine mode: whether sbatch and squeue answer here, and the sbatch
 * options and batch script of one job. The batch script runs the engine's node-side step
 * (slurm-step.ts), which runs the gear with the same executors as a local engine, so the job
 * needs only the API address and the engine key on the compute node. slurm/tracker.ts submits
 * and follows the jobs.
 */

/** Why Slurm cannot be used from this machine, or undefined when sbatch and squeue answer. */
export async function slurmUnusable(): Promise<string | undefined> {
  for (const cmd of ['sbatch', 'squeue', 'scontrol', 'scancel']) {
    try {
      await run(cmd, ['--version']);
    } catch (err) {
      return `${cmd} does not answer here (${(err as Error).message})`;
    }
  }
  try {
    await run('squeue', ['--me', '-h', '-o', '%i']);
  } catch (err) {
    return `the Slurm controller does not answer (${(err as Error).message})`;
  }
  return undefined;
}

/** Minutes of the sbatch time limit: the walltime, plus a minute for the step to upload and report. */
export function timeLimitMinutes(walltimeSeconds: number): number {
  return Math.ceil(walltimeSeconds / 60) + 1;
}

/** The job's sbatch options: its resource request, the site's settings, a name and comment to find it by. */
export function sbatchArgs(opts: {
  jobId: string;
  resources: ResourceRequest;
  config: SlurmConfig;
  /** Written by Slurm on the node; readable by the engine when its folder is shared with the nodes. */
  outputFile: string;
  /** Identifies the engine that submitted it, so a restarted engine finds its own jobs. */
  comment: string;
}): string[] {
  const r = opts.resources;
  const args = [
    '--parsable',
    `--job-name=sprocket-${opts.jobId}`,
    `--comment=${opts.comment}`,
    `--output=${opts.outputFile}`,
    '--export=ALL',
    // A requeued job would run the step a second time behind the engine's back; the engine
    // resubmits itself when the cluster failed the job.
    '--no-requeue',
    '--chdir=/tmp',
    '--ntasks=1',
  ];
  if (opts.config.partition) args.push(`--partition=${opts.config.partition}`);
  if (opts.config.account) args.push(`--account=${opts.config.account}`);
  if (opts.config.qos) args.push(`--qos=${opts.config.qos}`);
  if (r.cpu && r.cpu > 0) args.push(`--cpus-per-task=${Math.ceil(r.cpu)}`);
  const memory = r.memory !== undefined ? parseMemory(r.memory) : undefined;
  // The step itself (node + the executor) needs memory beside the gear's request, which the inner
  // executor enforces on the gear alone.
  if (memory) args.push(`--mem=${Math.ceil(memory / 2 ** 20) + 256}M`);
  if (r.gpu && r.gpu > 0) args.push(`--gres=gpu:${Math.ceil(r.gpu)}`);
  if (r.walltime && r.walltime > 0) args.push(`--time=${timeLimitMinutes(r.walltime)}`);
  args.push(...opts.config.extraFlags);
  return args;
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The batch script: exec the node-side step for the job (credentials come in the environment, not here). */
export function batchScript(argv: string[]): string {
  return `#!/bin/sh\n# Sprocket engine: runs one job on this node, talking to the API (slurm-step).\nexec ${argv.map(shQuote).join(' ')}\n`;
}
