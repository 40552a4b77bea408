import fs from 'node:fs';
import path from 'node:path';
import type { ResourceRequest } from '@sprocket/types';

/**
 * The Slurm jobs an engine has submitted, kept in its work folder so that an engine restarted on
 * the same folder keeps tracking them (squeue by comment finds them too, while Slurm still knows
 * them). Written whole to a temporary file and renamed over, so a kill mid-write leaves the old list.
 */
export interface SubmittedJob {
  job_id: string;
  slurm_id: string;
  submitted: string;
  /** Times the job was submitted again after the cluster failed it (node failure, preemption). */
  resubmits: number;
  resources: ResourceRequest;
}

export function stateFilePath(workDir: string): string {
  return path.join(workDir, 'slurm', 'submitted.json');
}

export function readSubmitted(workDir: string): SubmittedJob[] {
  let text: string;
  try {
    text = fs.readFileSync(stateFilePath(workDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const list = JSON.parse(text) as unknown;
  if (!Array.isArray(list)) throw new Error(`${stateFilePath(workDir)} does not hold a list of submitted jobs`);
  return list.filter(
    (j): j is SubmittedJob => typeof j?.job_id === 'string' && typeof j?.slurm_id === 'string' && /^\d+$/.test(j.slurm_id),
  );
}

export function writeSubmitted(workDir: string, jobs: SubmittedJob[]): void {
  const file = stateFilePath(workDir);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(jobs, null, 1), { mode: 0o600 });
  fs.renameSync(tmp, file);
}
