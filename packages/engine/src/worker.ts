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
export function failureOf(
  result: RunResult,
  stoppedBy: unknown,
  walltime?: number,
  diskLimit?: number,
  lastLine?: string,
): string | undefined {
  if (stoppedBy === 'walltime') return `the gear exceeded its walltime of ${walltime} s and was stopped`;
  if (stoppedBy === 'disk')
    return `the job folder (inputs aside) grew past the job disk limit of ${human(diskLimit ?? 0)} (SPROCKET_JOB_DISK_LIMIT) and the gear was stopped`;
  if (result.limit) return result.limit;
  if (result.exitCode === 0) return undefined;
  if (result.exitCode === null) return `the gear was killed by signal ${result.signal ?? 'unknown'}`;
  return `the gear exited with code ${result.exitCode}${lastLine ? `: ${lastLine}` : ''}`;
}

/** A step ended the job early; `outcome` is how (the job has been finished or left already). */
class Ended {
  constructor(readonly outcome: JobOutcome) {}
}

type Prepared = Awaited<ReturnType<typeof prepareJobDir>>;
type Selection = Awaited<ReturnType<ExecutorSelector['pick']>>;

/** What the gear's run left: its result, why it was stopped (if it was), and the limits it ran under. */
interface Ran {
  result: RunResult;
  stoppedBy: unknown;
  walltime?: number;
  diskLimit: number;
}

/**
 * One job on this engine, in named steps (prepare, pick an executor, run, upload, complete); a step
 * that ends the job early throws `Ended` with the outcome. Holds what the steps share: the job's
 * log (also its heartbeat), the stop signal the heartbeat raises on a cancel, and the profile.
 */
class JobRun {
  readonly started = Date.now();
  /** Aborted with 'cancelled' or 'lost' by the heartbeat's answer, or 'shutdown'. */
  readonly stop = new AbortController();
  readonly jobLog: JobLog;
  readonly jobDir: string;
  readonly gear: string;
  readonly profile: Record<string, unknown> = { executor: { name: '', ...HOST }, versions: { engine: SPROCKET_VERSION } };

  constructor(
    readonly ctx: EngineContext,
    readonly job: ClaimedJob,
    readonly shutdown: AbortSignal,
  ) {
    this.jobLog = new JobLog(ctx.client, job.id, {
      intervalMs: ctx.heartbeatMs,
      onState: (state) => this.stop.abort(state === 'cancelled' ? 'cancelled' : 'lost'),
    });
    this.gear = `${job.gear_info?.name ?? job.gear_id}${job.gear_info?.version ? ` ${job.gear_info.version}` : ''}`;
    this.jobDir = path.join(ctx.workDir, 'jobs', job.id.replace(/[^a-zA-Z0-9_.-]/g, '_'));
  }

  claimed(): void {
    this.jobLog.start();
    this.jobLog.system(
      `Engine ${this.ctx.engineId} (Sprocket engine ${SPROCKET_VERSION}) claimed the job: gear ${this.gear}, attempt ${this.job.attempt ?? 1}`,
    );
  }

  /** 1. The gear, the inputs and config.json laid out in the job folder. */
  async prepare(): Promise<Prepared> {
    let prepared: Prepared;
    try {
      prepared = await prepareJobDir({
        client: this.ctx.client,
        gears: this.ctx.gears,
        job: this.job,
        jobDir: this.jobDir,
        signal: AbortSignal.any([this.stop.signal, this.shutdown]),
      });
    } catch (err) {
      if (this.stop.signal.aborted) throw new Ended(await this.endStopped());
      if (this.shutdown.aborted) {
        this.stop.abort('shutdown');
        throw new Ended(await this.endStopped());
      }
      throw new Ended(await this.failEarly(`The gear could not be prepared: ${message(err)}`));
    }
    this.profile.total_input_files = prepared.inputFiles;
    this.profile.total_input_size_bytes = prepared.inputBytes;
    this.profile.preparation_time_ms = Date.now() - this.started;
    return prepared;
  }

  /** 2. What to run, and the executor that can run it. */
  async pickExecutor(prepared: Prepared): Promise<{ spec: RunSpec; selection: Selection }> {
    const target = this.job.request.target;
    const spec: RunSpec = {
      jobDir: this.jobDir,
      jobId: this.job.id,
      gearId: this.job.gear_id,
      command: target.command?.length ? target.command : ['bash', '-c', './run'],
      env: { PATH: GEAR_PATH, ...target.env },
      networking: target.networking === true || prepared.apiKeyInputs.length > 0,
      resources: target.resources ?? {},
      image: target.image ?? null,
      ...(target.uid !== undefined ? { uid: target.uid } : {}),
      ...(target.gid !== undefined ? { gid: target.gid } : {}),
    };
    let selection: Selection;
    try {
      selection = await this.ctx.selector.pick(spec);
    } catch (err) {
      throw new Ended(await this.failEarly(`No executor can run this job: ${message(err)}`));
    }
    (this.profile.executor as { name: string }).name = selection.executor.name;
    if (!target.networking && spec.networking)
      this.jobLog.system(`Networking allowed: the gear calls the API with its api-key input (${prepared.apiKeyInputs.join(', ')})`);
    if (selection.note) this.jobLog.system(selection.note);
    this.jobLog.system(
      `Running ${JSON.stringify(spec.command)} with the ${selection.executor.name} executor${spec.networking ? ' (networking allowed)' : ''}`,
    );
    return { spec, selection };
  }

  /** 3. The gear's run, stopped on a cancel, a shutdown, its walltime or the job disk limit. */
  async runGear(spec: RunSpec, selection: Selection): Promise<Ran> {
    const walltime = spec.resources.walltime && spec.resources.walltime > 0 ? spec.resources.walltime : undefined;
    const runStop = new AbortController();
    const onStop = () => runStop.abort(this.stop.signal.reason);
    const onShutdown = () => runStop.abort('shutdown');
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    this.shutdown.addEventListener('abort', onShutdown, { once: true });
    const wallTimer = walltime ? setTimeout(() => runStop.abort('walltime'), walltime * 1000) : undefined;
    // work/ and output/ live on the engine's disk: a gear filling them would fill the host's. The
    // inputs (read-only to the gear) do not count: a large scan is no attack.
    const diskLimit = gearLimits().diskBytes;
    const stopWatching = watchDisk(this.jobDir, diskLimit, () => runStop.abort('disk'), new Set(['input']));
    const runStarted = Date.now();
    let result: RunResult;
    try {
      result = await selection.executor.run(
        spec,
        { stdout: (c) => this.jobLog.stdout(c), stderr: (c) => this.jobLog.stderr(c) },
        runStop.signal,
      );
    } catch (err) {
      throw new Ended(await this.failEarly(`The gear could not be started: ${message(err)}`));
    } finally {
      clearTimeout(wallTimer);
      stopWatching();
      this.stop.signal.removeEventListener('abort', onStop);
      this.shutdown.removeEventListener('abort', onShutdown);
    }
    this.profile.elapsed_time_ms = Date.now() - runStarted;
    const stoppedBy = runStop.signal.aborted ? runStop.signal.reason : undefined;
    if (stoppedBy === 'cancelled' || stoppedBy === 'lost') throw new Ended(await this.endStopped());
    if (stoppedBy === 'shutdown') {
      this.stop.abort('shutdown');
      throw new Ended(await this.endStopped());
    }
    return { result, stoppedBy, walltime, diskLimit };
  }

  /** 4. The verdict, and the outputs uploaded with it. Outputs of a failed run are saved too; the API flags them. */
  async upload(ran: Ran): Promise<{ verdict: FinishBody; failure?: string }> {
    this.jobLog.endOutput();
    let failure = failureOf(ran.result, ran.stoppedBy, ran.walltime, ran.diskLimit, this.jobLog.lastGearLine());
    const uploadStarted = Date.now();
    let outputs: CollectedOutputs;
    try {
      outputs = await collectOutputs(path.join(this.jobDir, 'output'));
    } catch (err) {
      throw new Ended(await this.failEarly(`The outputs could not be read: ${message(err)}`));
    }
    for (const note of outputs.notes) this.jobLog.system(note);
    if (outputs.metadataError) {
      this.jobLog.system(outputs.metadataError);
      failure ??= outputs.metadataError;
    }
    if (failure) this.jobLog.system(failure.charAt(0).toUpperCase() + failure.slice(1));
    const verdict: FinishBody = {
      success: !failure,
      ...(ran.result.exitCode !== null ? { exit_code: ran.result.exitCode } : {}),
      ...(failure ? { failure_reason: failure } : {}),
    };
    // Nothing to save: the ticket and the empty upload would be two round trips for nothing.
    const nothingToSave = outputs.files.length === 0 && outputs.metadata === undefined;
    try {
      if (!nothingToSave) {
        const { ticket } = await retrying(() => this.ctx.client.prepareComplete(this.job.id, verdict), { forMs: FINISH_RETRY_MS });
        await retrying(() => uploadOutputs(this.ctx.client, this.job.request.outputs[0]!.uri, ticket, outputs), { forMs: FINISH_RETRY_MS });
      }
    } catch (err) {
      if (this.stop.signal.aborted) throw new Ended(await this.endStopped());
      if (isHttpError(err, 409)) {
        this.jobLog.abandon();
        this.ctx.log.warn(`job ${this.job.id}: the API no longer accepts its results (${message(err)})`);
        throw new Ended('lost');
      }
      throw new Ended(await this.failEarly(`The outputs could not be uploaded: ${message(err)}`));
    }
    this.profile.upload_time_ms = Date.now() - uploadStarted;
    this.profile.total_output_files = outputs.files.length;
    this.profile.total_output_size_bytes = outputs.totalBytes;
    this.jobLog.system(
      `Saved ${outputs.files.length} output file${outputs.files.length === 1 ? '' : 's'}${outputs.metadata && !outputs.metadataError ? ' and output metadata' : ''}`,
    );
    return { verdict, failure };
  }

  /** 5. The finishing call, which survives a short API outage; a 409 means the job is no longer ours. */
  async finish(body: FinishBody): Promise<JobOutcome> {
    this.profile.total_time_ms = Date.now() - this.started;
    const logs = await this.jobLog.drain();
    try {
      await retrying(() => this.ctx.client.complete(this.job.id, { ...body, profile: this.profile, ...(logs.length ? { logs } : {}) }), {
        forMs: FINISH_RETRY_MS,
      });
    } catch (err) {
      if (isHttpError(err, 409)) {
        this.ctx.log.warn(`job ${this.job.id}: the API refused completion (${message(err)})`);
        return 'lost';
      }
      this.ctx.log.error(`job ${this.job.id}: could not report completion: ${message(err)}`);
      return 'lost';
    }
    return body.success ? 'complete' : 'failed';
  }

  /** Fails the job with a reason of the engine's own (nothing the gear said). */
  async failEarly(reason: string): Promise<JobOutcome> {
    this.jobLog.system(reason);
    this.ctx.log.warn(`job ${this.job.id}: ${reason}`);
    return this.finish({ success: false, failure_reason: reason });
  }

  /** Ends a job stopped by a cancel, by losing it, or by the engine shutting down. */
  async endStopped(): Promise<JobOutcome> {
    const why = this.stop.signal.reason;
    if (why === 'cancelled') {
      this.jobLog.system('The job was cancelled; the gear was stopped.');
      await this.jobLog.close();
      return 'cancelled';
    }
    if (why === 'lost') {
      this.jobLog.abandon();
      this.ctx.log.warn(`job ${this.job.id}: no longer running on the API (${this.jobLog.stateSeen}); stopped`);
      return 'lost';
    }
    this.jobLog.system('The engine is shutting down; the gear was stopped and the job is left to be retried.');
    await this.jobLog.close();
    this.jobLog.abandon();
    return 'abandoned';
  }

  async cleanUp(): Promise<void> {
    this.jobLog.abandon();
    if (!this.ctx.keepJobDirs) await fs.promises.rm(this.jobDir, { recursive: true, force: true }).catch(() => {});
  }
}

/** One job's life on this engine: prepare, run, upload, complete. Never throws. */
export async function runJob(ctx: EngineContext, job: ClaimedJob, shutdown: AbortSignal): Promise<JobOutcome> {
  const run = new JobRun(ctx, job, shutdown);
  run.claimed();
  try {
    const prepared = await run.prepare();
    const { spec, selection } = await run.pickExecutor(prepared);
    const ran = await run.runGear(spec, selection);
    const { verdict, failure } = await run.upload(ran);
    const outcome = await run.finish(verdict);
    ctx.log.info(`job ${job.id} (${run.gear}): ${outcome}${failure ? ` (${failure})` : ''} in ${Date.now() - run.started} ms`);
    return outcome;
  } catch (err) {
    if (err instanceof Ended) return err.outcome;
    // Anything unforeseen still ends the job rather than leaving it to time out.
    ctx.log.error(`job ${job.id}: ${message(err)}`);
    return run.failEarly(`The engine failed while running the job: ${message(err)}`).catch(() => 'lost' as const);
  } finally {
    await run.cleanUp();
  }
}
