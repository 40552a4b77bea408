import type { Command } from 'commander';
import { checkId } from '../errors.js';
import { printJson } from '../output.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('retry')
    .description('queue a new attempt of a failed job')
    .argument('<id>', 'job id')
    .option('--any-state', 'also retry a complete or cancelled job')
    .option('--json', 'print {job} as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket job retry 6650f0c2a1b2c3d4e5f60718\n  $ sprocket job retry 6650f0c2a1b2c3d4e5f60718 --any-state',
    )
    .action(async (id: string, opts: { anyState?: boolean; json?: boolean }) => {
      const { client } = openSession();
      checkId('job', id);
      const next = await client.retryJob(id, { ignoreState: opts.anyState });
      if (opts.json) printJson({ job: next, retry_of: id });
      else process.stdout.write(`Queued job ${next} (retry of ${id})\n`);
    });
}
