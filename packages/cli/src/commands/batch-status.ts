import type { Command } from 'commander';
import { checkId } from '../errors.js';
import { JOB_COLUMNS } from '../jobs/format.js';
import { plain, printJson, printTable } from '../output.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('status')
    .description("show a batch's state and its jobs")
    .argument('<id>', 'batch id')
    .option('--jobs', 'list every job')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket batch status 6650f0c2a1b2c3d4e5f60718\n  $ sprocket batch status 6650f0c2a1b2c3d4e5f60718 --jobs',
    )
    .action(async (id: string, opts: { jobs?: boolean; json?: boolean }) => {
      const { client } = openSession();
      checkId('batch', id);
      const batch = await client.getBatch(id);
      const jobs = await batch.getJobs();
      const counts: Record<string, number> = {};
      for (const j of jobs) counts[j.state] = (counts[j.state] ?? 0) + 1;
      if (opts.json) {
        printJson({ ...(plain(batch) as object), job_states: counts, ...(opts.jobs ? { jobs: plain(jobs) } : {}) });
        return;
      }
      const summary = Object.entries(counts)
        .map(([s, n]) => `${n} ${s}`)
        .join(', ');
      process.stdout.write(`Batch ${batch.id}: ${batch.state}, ${jobs.length} jobs${summary ? ` (${summary})` : ''}\n`);
      if (opts.jobs) printTable(jobs, JOB_COLUMNS, '(no jobs)');
    });
}
