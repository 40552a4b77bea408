import { Job } from '@sprocket/sdk';
import type { Command } from 'commander';
import { JOB_COLUMNS } from '../jobs/format.js';
import { plain, printJson, printTable } from '../output.js';
import { positiveInt } from '../pool.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('ls')
    .description('list your jobs, newest first')
    .option('--state <states>', 'only these states (comma-separated): pending, running, complete, failed, cancelled')
    .option('--gear <name>', 'only jobs of this gear')
    .option('--all', "everyone's jobs (site admins)")
    .option('-n, --limit <n>', 'at most this many (default 50)')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ sprocket job ls\n  $ sprocket job ls --state failed,cancelled --gear dcm2niix\n  $ sprocket job ls --all --json')
    .action(async (opts: { state?: string; gear?: string; all?: boolean; limit?: string; json?: boolean }) => {
      const session = openSession();
      const limit = positiveInt('--limit', opts.limit, 50);
      const states = opts.state?.split(',').map((s) => s.trim()).filter(Boolean);
      let jobs: Job[];
      if (opts.all) {
        const docs = await session.raw.json<Record<string, unknown>[]>('GET', '/jobs', {
          query: { states: states?.join(','), sort: 'created:desc', limit, filter: opts.gear ? `gear_info.name=${opts.gear}` : undefined },
        });
        jobs = docs.map((d) => new Job(session.client, d));
      } else {
        jobs = (await session.client.getCurrentUserJobs({ states, gear: opts.gear, limit })).jobs;
      }
      if (opts.json) printJson(plain(jobs));
      else printTable(jobs, JOB_COLUMNS, '(no jobs)');
    });
}
