import type { Command } from 'commander';
import { plain, printJson, printTable, shortDate } from '../output.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('ls')
    .description('list your batches (every batch for site admins), with their gear and what they ran over')
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
          { header: 'GEAR', value: (b) => (b.gear_info ? `${b.gear_info.name}@${b.gear_info.version}` : b.gear_id) },
          // The server sends each target's path with the list: no lookup per row.
          { header: 'OVER', value: (b) => (b.targets?.length ? b.targets.map((t) => t.path ?? `${t.type} ${t.id}`).join(', ') : '-') },
          { header: 'JOBS', value: (b) => (Array.isArray(b.jobs) ? b.jobs.length : ''), right: true },
          { header: 'CREATED', value: (b) => shortDate(b.created) },
        ],
        '(no batches)',
      );
    });
}
