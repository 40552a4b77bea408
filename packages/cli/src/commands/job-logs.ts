import type { Command } from 'commander';
import { checkId } from '../errors.js';
import { intervalMs } from '../jobs/wait.js';
import { openSession } from '../session.js';

const TERMINAL = new Set(['complete', 'failed', 'cancelled']);

export function register(parent: Command): void {
  parent
    .command('logs')
    .description("print a job's log (the gear's output and the engine's notes)")
    .argument('<id>', 'job id')
    .option('-f, --follow', 'keep printing new lines until the job ends')
    .option('--interval <seconds>', 'with --follow: seconds between polls (default 1)')
    .addHelpText('after', '\nExamples:\n  $ sprocket job logs 6650f0c2a1b2c3d4e5f60718\n  $ sprocket job logs -f 6650f0c2a1b2c3d4e5f60718')
    .action(async (id: string, opts: { follow?: boolean; interval?: string }) => {
      const { client } = openSession();
      checkId('job', id);
      const every = intervalMs(opts.interval, 1);
      let printed = 0;
      const printNew = async () => {
        const { logs } = await client.getJobLogs(id);
        for (const line of logs.slice(printed)) {
          // Engines send lines with or without their newline; system notes are marked as the server's text log marks them.
          const text = line.fd === -1 ? `[sprocket] ${line.msg}` : line.msg;
          process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
        }
        printed = Math.max(printed, logs.length);
      };
      if (!opts.follow) {
        await client.getJob(id);
        await printNew();
        return;
      }
      for (;;) {
        // State first: a job seen ended has all its lines logged, so one more read gets the tail.
        const ended = TERMINAL.has((await client.getJob(id)).state);
        await printNew();
        if (ended) return;
        await new Promise((r) => setTimeout(r, every));
      }
    });
}
