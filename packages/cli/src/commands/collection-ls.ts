import type { Command } from 'commander';
import { plain, printJson, printTable } from '../output.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('ls')
    .description('list the collections you hold a role on')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ sprocket collection ls\n  $ sprocket collection ls --json')
    .action(async (opts: { json?: boolean }) => {
      const { client } = openSession();
      const collections = await client.collections.find({ sort: 'label:asc' });
      if (opts.json) return printJson(plain(collections));
      printTable(
        collections,
        [
          { header: 'ID', value: (c) => c.id },
          { header: 'LABEL', value: (c) => c.label },
          { header: 'CURATOR', value: (c) => c.curator },
          { header: 'DESCRIPTION', value: (c) => c.description ?? '' },
        ],
        '(no collections)',
      );
    });
}
