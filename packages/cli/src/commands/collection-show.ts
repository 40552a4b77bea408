import type { Command } from 'commander';
import { plain, printJson, printTable } from '../output.js';
import { openSession } from '../session.js';
import { collectionAt, PathNamer } from './collection-ref.js';

export function register(parent: Command): void {
  parent
    .command('show')
    .description('show a collection and the sessions and acquisitions in it (those you may see), by path')
    .argument('<collection>', 'label or id')
    .option('--json', 'print as JSON: the collection with its sessions and acquisitions')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket collection show "QA failures"\n  $ sprocket collection show 6650f0c2a1b2c3d4e5f60718 --json',
    )
    .action(async (ref: string, opts: { json?: boolean }) => {
      const { client } = openSession();
      const c = await collectionAt(client, ref);
      const [sessions, acquisitions] = await Promise.all([c.sessions().find(), c.acquisitions().find()]);
      if (opts.json) return printJson(plain({ ...c.toJSON(), sessions, acquisitions }));
      const namer = new PathNamer(client);
      process.stdout.write(`${c.label} (${c.id}), curated by ${c.curator}${c.description ? `: ${c.description}` : ''}\n\n`);
      const sessionRows = await Promise.all(sessions.map(async (s) => ({ id: s.id, path: await namer.session(s) })));
      process.stdout.write(`Sessions (${sessions.length})\n`);
      printTable(
        sessionRows,
        [
          { header: 'ID', value: (r) => r.id },
          { header: 'PATH', value: (r) => r.path },
        ],
        '(none)',
      );
      const acquisitionRows = await Promise.all(acquisitions.map(async (a) => ({ id: a.id, path: await namer.acquisition(a) })));
      process.stdout.write(`\nAcquisitions (${acquisitions.length})\n`);
      printTable(
        acquisitionRows,
        [
          { header: 'ID', value: (r) => r.id },
          { header: 'PATH', value: (r) => r.path },
        ],
        '(none)',
      );
    });
}
