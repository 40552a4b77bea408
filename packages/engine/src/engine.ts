import os from 'node:os';
import path from 'node:path';
import { EngineClient } from './client.js';
import type { EngineConfig } from './config.js';
import { ImageArchives } from './executors/images.js';
import { sweepStaleCgroups } from './executors/limits.js';
import { ExecutorSelector } from './executors/select.js';
import { GearCache } from './layout.js';
import { createLogger, type Logger } from './logger.js';
import { Runner } from './runner.js';
import { SlurmTracker } from './slurm/tracker.js';
import type { EngineContext } from './worker.js';

/** Heartbeat and log batching period: the protocol asks for at least one every 2 s. */
export const HEARTBEAT_MS = 1000;

/** Wires an engine from its configuration; `runner.run()` then works until `runner.stop()`. */
export async function createEngine(
  config: EngineConfig,
  log: Logger = createLogger(config.logLevel),
): Promise<{ runner: Runner; ctx: EngineContext; executor: string; notes: string[] }> {
  const client = new EngineClient(config.key, config.apiUrl);
  const archives = new ImageArchives(path.join(config.workDir, 'images'), {
    info: (gearId) => client.gearImage(gearId),
    download: async (gearId, dest) => {
      await client.download(`/gears/${encodeURIComponent(gearId)}/image`, dest);
    },
  });
  const selector = new ExecutorSelector(config.executor, { workDir: config.workDir, archives });
  await selector.check();
  const swept = sweepStaleCgroups();
  if (swept) log.info(`removed ${swept} empty job cgroup(s) left by engines that were killed`);
  const ctx: EngineContext = {
    client,
    selector,
    gears: new GearCache(client, path.join(config.workDir, 'gears')),
    workDir: config.workDir,
    engineId: `${os.hostname()}/${process.pid}`,
    keepJobDirs: config.keepJobDirs,
    heartbeatMs: HEARTBEAT_MS,
    log,
  };
  const common = { capabilities: config.capabilities, waitSeconds: config.waitSeconds, shutdownGraceMs: config.shutdownGraceMs };
  if (config.slurm) {
    // Jobs wait and run on the cluster: the engine holds up to maxSubmitted of them, not a core each.
    const tracker = new SlurmTracker(ctx, config.slurm, config.key);
    const runner = new Runner(ctx, {
      ...common,
      concurrency: config.slurm.maxSubmitted,
      runJob: (job) => tracker.submit(job),
      adopt: () => tracker.adopt(),
      detached: true,
    });
    tracker.attach(runner.shutdownSignal);
    return {
      runner,
      ctx,
      executor: 'slurm',
      notes: [
        `jobs are submitted to Slurm (up to ${config.slurm.maxSubmitted} at once) and run there with the ${config.slurm.innerExecutor} executor`,
      ],
    };
  }
  const runner = new Runner(ctx, { ...common, concurrency: config.concurrency });
  return { runner, ctx, executor: await selector.defaultName(), notes: await selector.startNotes() };
}
