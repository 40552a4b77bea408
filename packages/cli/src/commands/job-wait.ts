import type { Command } from 'commander';
import { checkId } from '../errors.js';
import { intervalMs, reportFinished, timeoutMs, waitWithProgress } from '../jobs/wait.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('wait')
    .description('wait until jobs finish; exit code 1 unless every one completes')
    .argument('<id...>', 'job ids')
    .option('--interval <seconds>', 'seconds between polls (default 2)')
    .option('--timeout <seconds>', 'give up after this long (exit code 1)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket job wait 6650f0c2a1b2c3d4e5f60718\n  $ sprocket job wait $(sprocket job ls --state pending,running --json | jq -r ".[].id") --timeout 3600',
    )
    .action(async (ids: string[], opts: { interval?: string; timeout?: string }) => {
      const { client } = openSession();
      for (const id of ids) checkId('job', id);
      reportFinished(await waitWithProgress(client, ids, { intervalMs: intervalMs(opts.interval), timeoutMs: timeoutMs(opts.timeout) }));
    });
}
