import type { Client, Job } from '@sprocket/sdk';
import { CliError } from '../errors.js';
import { progress } from '../progress.js';

/**
 * Waits for jobs with a progress bar (jobs done of total, state counts); resolves with the final
 * jobs. Fails with one line when any did not complete, naming the first and its reason.
 */
export async function waitWithProgress(client: Client, ids: string[], opts: { intervalMs: number; timeoutMs?: number }): Promise<Job[]> {
  const bar = progress('Waiting', ids.length, 'jobs');
  let jobs: Job[];
  try {
    jobs = await client.waitForJobs(ids, {
      pollMs: opts.intervalMs,
      timeoutMs: opts.timeoutMs,
      onProgress: (p) => {
        bar.set(p.done);
        bar.note(
          Object.entries(p.counts)
            .filter(([, n]) => n > 0)
            .map(([s, n]) => `${n} ${s}`)
            .join(', '),
        );
      },
    });
  } catch (e) {
    if (/still unfinished/.test((e as Error).message))
      throw new CliError(`timed out: ${(e as Error).message.replace(/^waitForJobs: /, '')}`);
    throw e;
  } finally {
    bar.stop();
  }
  return jobs;
}

/** One line per job, then a non-zero exit when any did not complete. */
export function reportFinished(jobs: Job[]): void {
  for (const j of jobs)
    process.stdout.write(`${j.id} ${j.state}${j.state === 'failed' && j.failure_reason ? ` (${j.failure_reason})` : ''}\n`);
  const bad = jobs.filter((j) => j.state !== 'complete');
  if (bad.length) {
    const first = bad[0]!;
    throw new CliError(
      `${bad.length} of ${jobs.length} jobs did not complete (${first.id} ${first.state}${first.failure_reason ? `: ${first.failure_reason}` : ''}); see 'sprocket job logs ${first.id}'`,
    );
  }
}

/** `--interval` seconds as milliseconds. */
export function intervalMs(value: string | undefined, fallbackSeconds = 2): number {
  if (value === undefined) return fallbackSeconds * 1000;
  const s = Number(value);
  if (!Number.isFinite(s) || s <= 0) throw new CliError(`--interval must be a positive number of seconds, got '${value}'`);
  return s * 1000;
}

export function timeoutMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const s = Number(value);
  if (!Number.isFinite(s) || s <= 0) throw new CliError(`--timeout must be a positive number of seconds, got '${value}'`);
  return s * 1000;
}
