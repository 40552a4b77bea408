import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { retrying } from './backoff.js';
import { EngineClient } from './client.js';
import { HEARTBEAT_MS } from './engine.js';
import { EXECUTOR_CHOICES, type ExecutorChoice } from './executors/choices.js';
import { ExecutorSelector } from './executors/select.js';
import { GearCache } from './layout.js';
import { createLogger } from './logger.js';
import { type EngineContext, runJob } from './worker.js';

/**
 * The node-side step of the `slurm` engine mode: what the batch script runs on the compute node,
 * `node slurm-step.js --job <id>`. It does for one job what a local engine does (worker.ts
 * runJob: lay out the job folder from the API, run the gear with the executor named by
 * SPROCKET_EXECUTOR, stream the log, upload the outputs, finish), in a folder of its own on the
 * node, needing only the API address and the engine key (SPROCKET_API_URL, SPROCKET_API_KEY, in
 * the job's environment). The engine that submitted it heartbeats the job until it starts and
 * finishes it only if the cluster kills this step.
 */

const { values } = parseArgs({ options: { job: { type: 'string' } }, strict: true });
const log = createLogger(process.env.SPROCKET_LOG_LEVEL ?? 'info', 'slurm-step');
const jobId = values.job;
const key = process.env.SPROCKET_API_KEY;
if (!jobId || !key) {
  log.error('usage: slurm-step --job <id>, with SPROCKET_API_KEY (and SPROCKET_API_URL) in the environment');
  process.exit(2);
}
// Nothing the gear starts needs the engine's key: executors build the gear's environment afresh.
delete process.env.SPROCKET_API_KEY;
const choice = (process.env.SPROCKET_EXECUTOR ?? 'bwrap') as ExecutorChoice;
if (choice === 'slurm' || !EXECUTOR_CHOICES.includes(choice)) {
  log.error(`SPROCKET_EXECUTOR must name the executor on the node (bwrap, podman, process, auto), got ${JSON.stringify(choice)}`);
  process.exit(2);
}

const client = new EngineClient(key, process.env.SPROCKET_API_URL);
const selector = new ExecutorSelector(choice);
// The API may be restarting as the job starts: a short outage must not cost the job.
const job = await retrying(() => client.job(jobId), { forMs: 60_000 });
const unusable = await selector.check().then(
  () => undefined,
  (err: Error) => err.message,
);
if (unusable && job.state === 'running') {
  const reason = `No executor can run this job on cluster node ${os.hostname()}: ${unusable}`;
  log.error(reason);
  await client.complete(jobId, { success: false, failure_reason: reason, logs: [{ fd: -1, msg: reason }] });
  process.exit(0);
}
if (job.state !== 'running') {
  // Cancelled (or taken back) while it waited on the cluster: nothing to do.
  log.info(`job ${jobId} is ${job.state} on the API; nothing to run`);
  process.exit(0);
}
const workDir = fs.mkdtempSync(
  path.join(process.env.SPROCKET_SLURM_STEP_DIR ?? os.tmpdir(), `sprocket-step-${process.env.SLURM_JOB_ID ?? process.pid}-`),
);
const ctx: EngineContext = {
  client,
  selector,
  gears: new GearCache(client, path.join(workDir, 'gears')),
  workDir,
  engineId: `${process.env.SPROCKET_ENGINE_ID ?? 'engine'} via Slurm job ${process.env.SLURM_JOB_ID ?? '?'} on ${os.hostname()}`,
  keepJobDirs: false,
  heartbeatMs: HEARTBEAT_MS,
  log,
};
const outcome = await runJob(ctx, job, new AbortController().signal);
fs.rmSync(workDir, { recursive: true, force: true });
log.info(`job ${jobId}: ${outcome}`);
// 'lost' (the job stopped being the engine's) is no failure of this step.
process.exit(0);
