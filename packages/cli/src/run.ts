import { describeError, exitCodeOf } from './errors.js';
import { buildProgram } from './program.js';
import { stopAllProgress } from './progress.js';

/** Any failure ends as one line on stderr and a non-zero exit code; SPROCKET_DEBUG=1 adds the stack. */
function fail(e: unknown): void {
  stopAllProgress();
  process.stderr.write(`error: ${describeError(e)}\n`);
  if (process.env.SPROCKET_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exitCode = exitCodeOf(e);
}

process.on('unhandledRejection', (e) => {
  fail(e);
  process.exit();
});

/** Runs one command line (`argv` as in `process.argv`). */
export async function run(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    fail(e);
  }
}
