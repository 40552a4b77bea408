import type { Command } from 'commander';
import { plain, printJson, printTable, shortDate } from '../output.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('ls')
    .description('list your batches')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ sprocket batch ls')
    .action(async (opts: { json?: boolean }) => {
      const { client } = openSession();
      const batches = await client.getAllBatches();
      if (opts.json) return printJson(plain(batches));
      printTable(
        batches,
        [
          { header: 'ID', value: (b) => b.id },
          { header: 'STATE', value: (b) => b.state },
          { header: 'JOBS', value: (b) => (Array.isArray(b.jobs) ? b.jobs.length : ''), right: true },
          { header: 'CREATED', value: (b) => shortDate(b.created) },
          { header: 'GEAR', value: (b) => b.gear_id },
        ],
        '(no batches)',
      );
    });
}
