import { Gear } from '@sprocket/sdk';
import type { Command } from 'commander';
import { plain, printJson, printTable, shortDate } from '../output.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('ls')
    .description('list the gears installed on the server (latest version of each)')
    .option('--all-versions', 'every version, not just the latest')
    .option('--ids', 'show gear ids')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ sprocket gear ls\n  $ sprocket gear ls --all-versions --json')
    .action(async (opts: { allVersions?: boolean; ids?: boolean; json?: boolean }) => {
      const session = openSession();
      // The finder has no all_versions switch; the listing is one request either way.
      const docs = await session.client.transport.json<Record<string, unknown>[]>('listGears', {
        query: { all_versions: opts.allVersions ? true : undefined },
      });
      const gears = docs
        .map((d) => new Gear(session.client, d))
        .sort((a, b) => a.name.localeCompare(b.name) || a.created.localeCompare(b.created));
      if (opts.json) {
        printJson(plain(gears));
        return;
      }
      printTable(
        gears,
        [
          { header: 'NAME', value: (g) => g.name },
          { header: 'VERSION', value: (g) => g.version },
          { header: 'CATEGORY', value: (g) => g.category },
          { header: 'CREATED', value: (g) => shortDate(g.created) },
          ...(opts.ids ? [{ header: 'ID', value: (g: Gear) => g.id }] : []),
          { header: 'LABEL', value: (g) => g.gear.label },
        ],
        '(no gears installed)',
      );
    });
}
