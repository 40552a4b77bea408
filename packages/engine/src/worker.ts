import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type FinishBody, SPROCKET_VERSION } from '@sprocket/types';
import { retrying } from './backoff.js';
import { type ClaimedJob, type EngineClient, isHttpError } from './client.js';
import { watchDisk } from './disk.js';
import type { RunResult, RunSpec } from './executors/executor.js';
import { gearLimits, human } from './executors/limits.js';
import type { ExecutorSelector } from './executors/select.js';
import { type GearCache, prepareJobDir } from './layout.js';
import type { Logger } from './logger.js';
import { JobLog } from './logs.js';
import { type CollectedOutputs, collectOutputs, uploadOutputs } from './outputs.js';

/** The spec's fixed PATH, for a request that somehow carries none. */
export const GEAR_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HOST = { host: os.hostname(), cpu_cores: os.availableParallelism(), memory_bytes: os.totalmem() };

/** How long finishing calls keep trying through an API outage before the result is given up. */
const FINISH_RETRY_MS = 5 * 60_000;

export interface EngineContext {
  client: EngineClient;
  selector: ExecutorSelector;
  gears: GearCache;
  workDir: string;
  engineId: string;
  keepJobDirs: boolean;
  heartbeatMs: number;
  log: Logger;
}

/**
 * How a job ended for this engine. `abandoned`: the engine shut down mid-run and left the job to
 * the server's orphan sweep, which retries it. `lost`: the job stopped being this engine's to finish
 * (the orphan sweep or a user got there first).
 */
export type JobOutcome = 'complete' | 'failed' | 'cancelled' | 'abandoned' | 'lost';

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Why a run counts as failed, or undefined when it succeeded. A gear that exits non-zero is quoted:
 * its last stderr line (else stdout line) usually says what went wrong, where the code alone does not.
 */
export function failureOf(result: RunResult, stoppedBy: unknown, walltime?: number, diskLimit?: number, lastLine?: string): string | undefined {
  if (stoppedBy === 'walltime') return `the gear exceeded its walltime of ${walltime} s and was stopped`;
  if (stoppedBy === 'disk') return `the job folder (inputs aside) grew past the job disk limit of ${human(diskLimit ?? 0)} (SPROCKET_JOB_DISK_LIMIT) and the gear was stopped`;
  if (result.limit) return result.limit;
  if (result.exitCode === 0) return undefined;
  if (result.exitCode === null) return `the gear was killed by signal ${result.signal ?? 'unknown'}`;
  return `the gear exited with code ${result.exitCode}${lastLine ? `: ${lastLine}` : ''}`;
}

/** One job's life on this engine: prepare, run, upload, complete. Never throws. */
export async function runJob(ctx: EngineContext, job: ClaimedJob, shutdown: AbortSignal): Promise<JobOutcome> {
  const started = Date.now();
  const stop = new AbortController();
  const jobLog = new JobLog(ctx.client, job.id, {
    intervalMs: ctx.heartbeatMs,
    onState: (state) => stop.abort(state === 'cancelled' ? 'cancelled' : 'lost'),
  });
  jobLog.start();
  const gear = `${job.gear_info?.name ?? job.gear_id}${job.gear_info?.version ? ` ${job.gear_info.version}` : ''}`;
  jobLog.system(`Engine ${ctx.engineId} (Sprocket engine ${SPROCKET_VERSION}) claimed the job: gear ${gear}, attempt ${job.attempt ?? 1}`);
  const jobDir = path.join(ctx.workDir, 'jobs', job.id.replace(/[^a-zA-Z0-9_.-]/g, '_'));
  const profile: Record<string, unknown> = {
    executor: { name: '', ...HOST },
    versions: { engine: SPROCKET_VERSION },
  };
  const executorInfo = profile.executor as { name: string };

  /** Finishing call that survives a short API outage; a 409 means the job is no longer ours. */
  const finish = async (body: FinishBody): Promise<JobOutcome> => {
    profile.total_time_ms = Date.now() - started;
    const logs = await jobLog.drain();
    try {
      await retrying(() => ctx.client.complete(job.id, { ...body, profile, ...(logs.length ? { logs } : {}) }), { forMs: FINISH_RETRY_MS });
    } catch (err) {
      if (isHttpError(err, 409)) {
        ctx.log.warn(`job ${job.id}: the API refused completion (${message(err)})`);
        return 'lost';
      }
      ctx.log.error(`job ${job.id}: could not report completion: ${message(err)}`);
      return 'lost';
    }
    return body.success ? 'complete' : 'failed';
  };
  const failEarly = async (reason: string): Promise<JobOutcome> => {
    jobLog.system(reason);
    ctx.log.warn(`job ${job.id}: ${reason}`);
    return finish({ success: false, failure_reason: reason });
  };
  const endStopped = async (): Promise<JobOutcome> => {
    const why = stop.signal.reason;
    if (why === 'cancelled') {
      jobLog.system('The job was cancelled; the gear was stopped.');
      await jobLog.close();
      return 'cancelled';
    }
    if (why === 'lost') {
      jobLog.abandon();
      ctx.log.warn(`job ${job.id}: no longer running on the API (${jobLog.stateSeen}); stopped`);
      return 'lost';
    }
    jobLog.system('The engine is shutting down; the gear was stopped and the job is left to be retried.');
    await jobLog.close();
    jobLog.abandon();
    return 'abandoned';
  };

  try {
    // 1. Prepare.
    let prepared: Awaited<ReturnType<typeof prepareJobDir>>;
    try {
      prepared = await prepareJobDir({ client: ctx.client, gears: ctx.gears, job, jobDir, signal: AbortSignal.any([stop.signal, shutdown]) });
    } catch (err) {
      if (stop.signal.aborted) return await endStopped();
      if (shutdown.aborted) {
        stop.abort('shutdown');
        return await endStopped();
      }
      return await failEarly(`The gear could not be prepared: ${message(err)}`);
    }
    profile.total_input_files = prepared.inputFiles;
    profile.total_input_size_bytes = prepared.inputBytes;
    profile.preparation_time_ms = Date.now() - started;

    // 2. Run.
    const target = job.request.target;
    const spec: RunSpec = {
      jobDir,
      jobId: job.id,
      command: target.command?.length ? target.command : ['bash', '-c', './run'],
      env: { PATH: GEAR_PATH, ...target.env },
      networking: target.networking === true || prepared.apiKeyInputs.length > 0,
      resources: target.resources ?? {},
      image: target.image ?? null,
      ...(target.uid !== undefined ? { uid: target.uid } : {}),
      ...(target.gid !== undefined ? { gid: target.gid } : {}),
    };
    let selection: Awaited<ReturnType<ExecutorSelector['pick']>>;
    try {
      selection = await ctx.selector.pick(spec);
    } catch (err) {
      return await failEarly(`No executor can run this job: ${message(err)}`);
    }
    executorInfo.name = selection.executor.name;
    if (!target.networking && spec.networking) jobLog.system(`Networking allowed: the gear calls the API with its api-key input (${prepared.apiKeyInputs.join(', ')})`);
    if (selection.note) jobLog.system(selection.note);
    jobLog.system(`Running ${JSON.stringify(spec.command)} with the ${selection.executor.name} executor${spec.networking ? ' (networking allowed)' : ''}`);

    const walltime = spec.resources.walltime && spec.resources.walltime > 0 ? spec.resources.walltime : undefined;
    const runStop = new AbortController();
    const onStop = () => runStop.abort(stop.signal.reason);
    const onShutdown = () => runStop.abort('shutdown');
    stop.signal.addEventListener('abort', onStop, { once: true });
    shutdown.addEventListener('abort', onShutdown, { once: true });
    const wallTimer = walltime ? setTimeout(() => runStop.abort('walltime'), walltime * 1000) : undefined;
    // work/ and output/ live on the engine's disk: a gear filling them would fill the host's. The
    // inputs (read-only to the gear) do not count: a large scan is no attack.
    const diskLimit = gearLimits().diskBytes;
    const stopWatching = watchDisk(jobDir, diskLimit, () => runStop.abort('disk'), new Set(['input']));
    const runStarted = Date.now();
    let result: RunResult;
    try {
      result = await selection.executor.run(spec, { stdout: (c) => jobLog.stdout(c), stderr: (c) => jobLog.stderr(c) }, runStop.signal);
    } catch (err) {
      return await failEarly(`The gear could not be started: ${message(err)}`);
    } finally {
      clearTimeout(wallTimer);
      stopWatching();
      stop.signal.removeEventListener('abort', onStop);
      shutdown.removeEventListener('abort', onShutdown);
    }
    profile.elapsed_time_ms = Date.now() - runStarted;
    const stoppedBy = runStop.signal.aborted ? runStop.signal.reason : undefined;
    if (stoppedBy === 'cancelled' || stoppedBy === 'lost') return await endStopped();
    if (stoppedBy === 'shutdown') {
      stop.abort('shutdown');
      return await endStopped();
    }

    // 3. Upload. Outputs of a failed run are saved too; the API flags them.
    jobLog.endOutput();
    let failure = failureOf(result, stoppedBy, walltime, diskLimit, jobLog.lastGearLine());
    const uploadStarted = Date.now();
    let outputs: CollectedOutputs;
    try {
      outputs = await collectOutputs(path.join(jobDir, 'output'));
    } catch (err) {
      return await failEarly(`The outputs could not be read: ${message(err)}`);
    }
    for (const note of outputs.notes) jobLog.system(note);
    if (outputs.metadataError) {
      jobLog.system(outputs.metadataError);
      failure ??= outputs.metadataError;
    }
    if (failure) jobLog.system(failure.charAt(0).toUpperCase() + failure.slice(1));
    const verdict: FinishBody = {
      success: !failure,
      ...(result.exitCode !== null ? { exit_code: result.exitCode } : {}),
      ...(failure ? { failure_reason: failure } : {}),
    };
    // Nothing to save: the ticket and the empty upload would be two round trips for nothing.
    const nothingToSave = outputs.files.length === 0 && outputs.metadata === undefined;
    try {
      if (!nothingToSave) {
        const { ticket } = await retrying(() => ctx.client.prepareComplete(job.id, verdict), { forMs: FINISH_RETRY_MS });
        await retrying(() => uploadOutputs(ctx.client, job.request.outputs[0]!.uri, ticket, outputs), { forMs: FINISH_RETRY_MS });
      }
    } catch (err) {
      if (stop.signal.aborted) return await endStopped();
      if (isHttpError(err, 409)) {
        jobLog.abandon();
        ctx.log.warn(`job ${job.id}: the API no longer accepts its results (${message(err)})`);
        return 'lost';
      }
      return await failEarly(`The outputs could not be uploaded: ${message(err)}`);
    }
    profile.upload_time_ms = Date.now() - uploadStarted;
    profile.total_output_files = outputs.files.length;
    profile.total_output_size_bytes = outputs.totalBytes;
    jobLog.system(`Saved ${outputs.files.length} output file${outputs.files.length === 1 ? '' : 's'}${outputs.metadata && !outputs.metadataError ? ' and output metadata' : ''}`);

    // 4. Complete.
    const outcome = await finish(verdict);
    ctx.log.info(`job ${job.id} (${gear}): ${outcome}${failure ? ` (${failure})` : ''} in ${Date.now() - started} ms`);
    return outcome;
  } catch (err) {
    // Anything unforeseen still ends the job rather than leaving it to time out.
    ctx.log.error(`job ${job.id}: ${message(err)}`);
    return failEarly(`The engine failed while running the job: ${message(err)}`).catch(() => 'lost' as const);
  } finally {
    jobLog.abandon();
    if (!ctx.keepJobDirs) await fs.promises.rm(jobDir, { recursive: true, force: true }).catch(() => {});
  }
}
