import type { Group } from '@sprocket/sdk';
import { GROUP_ID } from '@sprocket/types';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { plain, printJson, printTable, shortDate } from '../output.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('add')
    .description('create a group (site admins); its id is the first element of every path in it')
    .argument('<id>', 'group id: lower-case letters, digits, . @ _ -')
    .option('--label <label>', 'display name (defaults to the id)')
    .addHelpText('after', '\nExamples:\n  $ sprocket group add lab\n  $ sprocket group add neuro --label "Neuroimaging lab"')
    .action(async (id: string, opts: { label?: string }) => {
      if (!GROUP_ID.test(id))
        throw new CliError(
          `not a group id: '${id}' (2 to 64 lower-case letters, digits, '.', '@', '_' or '-', starting and ending with a letter or digit)`,
        );
      const { client } = openSession();
      const group = await client.addGroup({ id, label: opts.label ?? id });
      process.stdout.write(`Created group ${group.id}${group.label && group.label !== group.id ? ` (${group.label})` : ''}\n`);
    });

  parent
    .command('ls')
    .description('list the groups you can see')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ sprocket group ls\n  $ sprocket group ls --json')
    .action(async (opts: { json?: boolean }) => {
      const { client } = openSession();
      const groups: Group[] = await client.groups.find();
      if (opts.json) return printJson(plain(groups));
      printTable(
        groups,
        [
          { header: 'ID', value: (g) => g.id },
          { header: 'LABEL', value: (g) => g.label },
          { header: 'CREATED', value: (g) => shortDate(g.created) },
        ],
        '(no groups)',
      );
    });
}
