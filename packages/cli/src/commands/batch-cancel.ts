import type { Command } from 'commander';
import { checkId } from '../errors.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('cancel')
    .description("cancel a running batch's jobs that have not started")
    .argument('<id>', 'batch id')
    .addHelpText('after', '\nExamples:\n  $ sprocket batch cancel 6650f0c2a1b2c3d4e5f60718')
    .action(async (id: string) => {
      const { client } = openSession();
      checkId('batch', id);
      const n = await (await client.getBatch(id)).cancel();
      process.stdout.write(`Cancelled batch ${id}: ${n} pending jobs cancelled\n`);
    });
}
