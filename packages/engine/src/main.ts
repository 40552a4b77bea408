import { loadEngineConfig, USAGE } from './config.js';
import { createEngine } from './engine.js';
import { createLogger } from './logger.js';
import { FatalEngineError } from './runner.js';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}

let config: ReturnType<typeof loadEngineConfig>;
try {
  config = loadEngineConfig(process.argv.slice(2));
} catch (err) {
  console.error(`sprocket-engine: ${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
const log = createLogger(config.logLevel);
const { runner, ctx, executor, notes } = await createEngine(config, log).catch((err: Error) => {
  log.error(err.message);
  process.exit(2);
});
// Always shown, whatever the log level: which engine this is and what it will do.
process.stderr.write(
  `[engine] ${ctx.engineId} working for ${ctx.client.apiUrl}: ${config.slurm ? `up to ${config.slurm.maxSubmitted} job(s) on the cluster` : `${config.concurrency} job(s) at once`}, executor ${config.executor === 'auto' ? `auto (${executor})` : executor}, folder ${config.workDir}\n`,
);
for (const note of notes) process.stderr.write(`[engine] ${note}\n`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log.info(`${signal}: stopping${runner.running ? ' (again to stop running jobs now)' : ''}`);
    runner.stop();
  });
}

try {
  await runner.run();
  process.exit(0);
} catch (err) {
  log.error(err instanceof FatalEngineError ? err.message : `stopped: ${(err as Error).stack ?? err}`);
  process.exit(1);
}
