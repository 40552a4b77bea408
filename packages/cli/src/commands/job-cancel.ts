import type { Command } from 'commander';
import { checkId } from '../errors.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('cancel')
    .description('cancel pending or running jobs')
    .argument('<id...>', 'job ids')
    .addHelpText('after', '\nExamples:\n  $ sprocket job cancel 6650f0c2a1b2c3d4e5f60718')
    .action(async (ids: string[]) => {
      const { client } = openSession();
      for (const id of ids) checkId('job', id);
      for (const id of ids) {
        await client.cancelJob(id);
        process.stdout.write(`Cancelled job ${id}\n`);
      }
    });
}
