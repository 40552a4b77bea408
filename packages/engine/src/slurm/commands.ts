import { execFile } from 'node:child_process';

/**
 * The Slurm client commands the engine runs (sbatch, squeue, scontrol, scancel, sacct), each a
 * short-lived process with a timeout, and what their output means. Slurm 22.05 without accounting
 * is the baseline (environment.md §1.2): `scontrol --json` does not exist there, so `scontrol show
 * job -o` is parsed as text; `sacct` is asked only when scontrol no longer knows a job.
 */

const TIMEOUT_MS = 30_000;

export class SlurmCommandError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    readonly code: number | string | null,
  ) {
    super(`${command} failed${code !== null ? ` (${code})` : ''}: ${stderr.trim().split('\n').slice(-2).join(' ') || 'no message'}`);
  }
}

export function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: env ?? process.env, timeout: TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code ?? null;
        reject(
          new SlurmCommandError(cmd, String(stderr || err.message), typeof code === 'number' || typeof code === 'string' ? code : null),
        );
      } else resolve(String(stdout));
    });
  });
}

/** A job as squeue lists it. */
export interface QueuedJob {
  id: string;
  name: string;
  state: string;
  reason: string;
  nodes: string;
  comment: string;
}

const SQUEUE_FORMAT = '%i|%j|%T|%r|%N|%k';

/** squeue's line for one job (`SQUEUE_FORMAT`); the comment, last, may itself hold '|'. */
export function parseSqueueLine(line: string): QueuedJob | undefined {
  const parts = line.split('|');
  if (parts.length < 6 || !/^\d+(_\d+)?$/.test(parts[0]!.trim())) return undefined;
  const [id, name, state, reason, nodes, ...comment] = parts.map((p) => p.trim());
  return { id: id!, name: name!, state: state!, reason: reason!, nodes: nodes!, comment: comment.join('|') };
}

/**
 * This user's jobs the controller still knows, ended ones included (kept for MinJobAge), in one
 * call however many the engine tracks: the poll loop's single look at the cluster.
 */
export async function squeueMine(): Promise<Map<string, QueuedJob>> {
  const out = await run('squeue', ['--me', '-h', '-t', 'all', '-o', SQUEUE_FORMAT]);
  const jobs = new Map<string, QueuedJob>();
  for (const line of out.split('\n')) {
    const j = parseSqueueLine(line);
    if (j) jobs.set(j.id, j);
  }
  return jobs;
}

/** `scontrol show job -o` as key → value (JobState, Reason, ExitCode, TimeLimit, …). */
export function parseScontrolJob(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  // One line of `Key=value` pairs; a value runs up to the next ` Key=` (Command and WorkDir may hold spaces).
  for (const m of text.trim().matchAll(/(?:^|\s)([A-Za-z][\w/:]*)=(.*?)(?=\s[A-Za-z][\w/:]*=|$)/g)) fields[m[1]!] = m[2]!;
  return fields;
}

/** The job as the controller knows it, or undefined once it has forgotten it (MinJobAge passed). */
export async function scontrolShowJob(id: string): Promise<Record<string, string> | undefined> {
  try {
    const out = await run('scontrol', ['show', 'job', '-o', id]);
    const fields = parseScontrolJob(out);
    return fields.JobState ? fields : undefined;
  } catch (err) {
    if (err instanceof SlurmCommandError && /Invalid job id/i.test(err.stderr)) return undefined;
    throw err;
  }
}

/** The accounting record of an ended job, where the site has accounting; undefined otherwise. */
export async function sacctJob(id: string): Promise<Record<string, string> | undefined> {
  try {
    const out = await run('sacct', ['-n', '-P', '-X', '-j', id, '-o', 'State,ExitCode,Reason']);
    const line = out.split('\n').find((l) => l.trim());
    if (!line) return undefined;
    const [state, exit, reason] = line.split('|');
    // sacct writes "CANCELLED by 0"; scontrol's JobState is the first word.
    const [word, ...by] = (state ?? '').trim().split(/\s+/);
    return { JobState: word!, ExitCode: exit ?? '', Reason: reason ?? '', ...(by.length ? { CancelledBy: by.join(' ') } : {}) };
  } catch {
    return undefined;
  }
}

/** Submits a batch script; the job id sbatch --parsable printed ("42" or "42;cluster"). */
export async function sbatch(args: string[], script: string, env: NodeJS.ProcessEnv): Promise<string> {
  const out = await run('sbatch', [...args, script], env);
  const id = out.trim().split(';')[0]!;
  if (!/^\d+$/.test(id)) throw new SlurmCommandError('sbatch', `unexpected answer ${JSON.stringify(out.trim())}`, null);
  return id;
}

export async function scancel(id: string): Promise<void> {
  await run('scancel', [id]);
}
