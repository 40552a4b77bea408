import type { Command } from 'commander';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('create')
    .description('make a new, empty collection (you become its curator)')
    .argument('<label>', 'name of the collection')
    .option('-d, --description <text>', 'what the collection is for')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket collection create "QA failures"\n  $ sprocket collection create rerun -d "sessions to convert again"',
    )
    .action(async (label: string, opts: { description?: string }) => {
      const { client } = openSession();
      const c = await client.addCollection({ label, ...(opts.description ? { description: opts.description } : {}) });
      process.stdout.write(`Created collection ${c.id} (${c.label})\n`);
    });
}
