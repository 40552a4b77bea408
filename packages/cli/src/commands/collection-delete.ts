import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { openSession } from '../session.js';
import { collectionAt } from './collection-ref.js';

export function register(parent: Command): void {
  parent
    .command('delete')
    .description('delete a collection (its sessions and acquisitions stay where they are); asks first unless --yes')
    .argument('<collection>', 'label or id')
    .option('-y, --yes', 'delete without asking')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket collection delete "QA failures"\n  $ sprocket collection delete 6650f0c2a1b2c3d4e5f60718 --yes',
    )
    .action(async (ref: string, opts: { yes?: boolean }) => {
      const { client } = openSession();
      const c = await collectionAt(client, ref);
      if (!opts.yes) {
        // Nobody to ask in a script: refuse rather than delete, or hang on a closed stdin.
        if (!process.stdin.isTTY)
          throw new CliError(`not deleting collection ${c.label} (${c.id}) without --yes: there is no terminal to confirm on`);
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        const answer = await rl.question(`Delete collection ${c.label} (${c.id})? The data in it stays. [y/N] `);
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) {
          process.stdout.write('Not deleted\n');
          return;
        }
      }
      await c.delete();
      process.stdout.write(`Deleted collection ${c.label} (${c.id})\n`);
    });
}
