import type { Command } from 'commander';
import { checkId } from '../errors.js';
import { describeJob } from '../jobs/format.js';
import { plain, printJson } from '../output.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('status')
    .description("show a job's state, inputs, config and outputs")
    .argument('<id...>', 'job ids')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket job status 6650f0c2a1b2c3d4e5f60718\n  $ sprocket job status 6650f0c2a1b2c3d4e5f60718 --json | jq .state',
    )
    .action(async (ids: string[], opts: { json?: boolean }) => {
      const { client } = openSession();
      for (const id of ids) checkId('job', id);
      const jobs = await Promise.all(ids.map((id) => client.getJob(id)));
      if (opts.json) return printJson(plain(ids.length === 1 ? jobs[0] : jobs));
      // The destinations' paths, from the listing that carries them (one request per job asked about).
      const listings = await Promise.all(ids.map((id) => client.getJobListing({ filter: `_id=${id}` }).catch(() => undefined)));
      const containers = Object.assign({}, ...listings.map((l) => l?.containers ?? {}));
      process.stdout.write(`${jobs.map((j) => describeJob(j, containers)).join('\n\n')}\n`);
    });
}
