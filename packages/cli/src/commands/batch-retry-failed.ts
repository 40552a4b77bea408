import type { Command } from 'commander';
import { CliError, checkId } from '../errors.js';
import { printJson } from '../output.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('retry-failed')
    .description("queue new attempts of a batch's failed jobs")
    .argument('<id>', 'batch id')
    .option('--exit-code <codes>', 'only jobs that failed with these exit codes (comma-separated)')
    .option('--memory <size>', 'ask for this much memory for the retries (e.g. 8G)')
    .option('--json', 'print the new job ids as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket batch retry-failed 6650f0c2a1b2c3d4e5f60718\n  $ sprocket batch retry-failed 6650f0c2a1b2c3d4e5f60718 --exit-code 137 --memory 16G',
    )
    .action(async (id: string, opts: { exitCode?: string; memory?: string; json?: boolean }) => {
      const { client } = openSession();
      checkId('batch', id);
      const exitCodes = opts.exitCode?.split(',').map((s) => {
        const n = Number(s.trim());
        if (!Number.isInteger(n)) throw new CliError(`--exit-code: '${s}' is not a whole number`);
        return n;
      });
      const ids = await (await client.getBatch(id)).retryFailed({ exitCodes, memory: opts.memory });
      if (opts.json) printJson({ batch: id, jobs: ids });
      else process.stdout.write(`Batch ${id}: ${ids.length} failed jobs queued again${ids.length ? ` (${ids.join(', ')})` : ''}\n`);
    });
}
