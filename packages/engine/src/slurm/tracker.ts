import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type ClusterState, type JobLogLine, LOG_FD, SPROCKET_VERSION } from '@sprocket/types';
import { retrying, sleep } from '../backoff.js';
import { type ClaimedJob, isHttpError } from '../client.js';
import { batchScript, sbatchArgs } from '../executors/slurm.js';
import { quotableLine } from '../logs.js';
import type { EngineContext, JobOutcome } from '../worker.js';
import { type QueuedJob, sacctJob, sbatch, scancel, scontrolShowJob, squeueMine } from './commands.js';
import type { SlurmConfig } from './config.js';
import { readSubmitted, type SubmittedJob, writeSubmitted } from './state-file.js';
import { type EndedJob, endedReason, exitOf, isLive, liveSummary, worthResubmitting } from './states.js';

/** How long the finishing call for a job the cluster failed keeps trying through an API outage. */
const FINISH_RETRY_MS = 5 * 60_000;
/** Times one job is submitted again after the cluster (not the gear) failed it. */
const MAX_RESUBMITS = 2;
/** Heartbeats in flight at once, so a thousand queued jobs do not open a thousand requests. */
const BEAT_PARALLEL = 16;

/** Environment settings the node-side step needs as the engine has them (limits, executor details). */
const PASSED_ENV =
  /^(SPROCKET_(GEAR_|JOB_DISK_LIMIT|GEAR_CACHE_MAX|PODMAN_|PROCESS_EXECUTOR_AS_ROOT|LOG_LEVEL|SLURM_STEP_DIR)|NODE_OPTIONS$|HOME$|LANG$)/;

/** The node-side step beside this module: slurm-step.js in dist, slurm-step.ts in the sources. */
export function stepScript(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), '..', `slurm-step${path.extname(here)}`);
}

/**
 * This engine's node options for the step (a loader such as tsx when it runs from the sources), with
 * bare module names resolved here: the batch script runs from another folder (--chdir=/tmp).
 */
export function stepExecArgv(execArgv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i]!;
    if (a.startsWith('--inspect')) continue;
    if ((a === '--import' || a === '--loader') && execArgv[i + 1] && !/^(\.|\/|file:)/.test(execArgv[i + 1]!)) {
      // Node resolves a bare --import name from the folder it starts in; so does this.
      out.push(a, pathToFileURL(createRequire(path.join(process.cwd(), 'step.js')).resolve(execArgv[++i]!)).href);
    } else out.push(a);
  }
  return out;
}

interface Tracked extends SubmittedJob {
  /** The last cluster state reported, to report changes only. */
  seen?: string;
  lastBeat: number;
  /** The API no longer has the job running (its step finished it, a user cancelled it …). */
  apiState?: string;
  cancelledBySprocket?: boolean;
  ending?: boolean;
  resolve: (outcome: JobOutcome) => void;
  promise: Promise<JobOutcome>;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The `slurm` engine mode: the runner hands each claimed job to `submit`, which sbatches it; then
 * one poll loop follows every submitted job — one `squeue` per round for all of them, `scontrol
 * show job` (or `sacct`) once for each that ended — and no process waits per job, so the engine
 * may hold many more jobs on the cluster than it has cores. While a job waits on the cluster the
 * loop heartbeats it (the server's orphan sweep must not take it), reports its cluster state to
 * the job document, and turns a cancel from Sprocket into `scancel`. Once it runs, the node-side
 * step heartbeats, streams the log, uploads and finishes the job itself; the loop finishes it only
 * when the cluster killed the step (walltime, memory, node failure, preemption, scancel), and
 * submits it again when the cluster, not the gear, ended it (a node failure, the step killed).
 */
export class SlurmTracker {
  private readonly tracked = new Map<string, Tracked>();
  private readonly stopped = new AbortController();
  private loop?: Promise<void>;
  private squeueFailures = 0;
  private readonly comment: string;

  constructor(
    private readonly ctx: EngineContext,
    private readonly config: SlurmConfig,
    private readonly key: string,
  ) {
    // Names this engine (its work folder on this host) among everyone's jobs in squeue.
    this.comment = `sprocket-engine:${createHash('sha256')
      .update(`${ctx.engineId.split('/')[0]}:${ctx.workDir}`)
      .digest('hex')
      .slice(0, 16)}`;
  }

  get size(): number {
    return this.tracked.size;
  }

  private jobFolder(jobId: string): string {
    return path.join(this.ctx.workDir, 'slurm', jobId.replace(/[^a-zA-Z0-9_.-]/g, '_'));
  }

  /**
   * Where Slurm writes the step's own output (not the gear's: that goes to the job log): the job's
   * folder here, which compute nodes see where the engine's folder is shared, else a folder every
   * node has (SPROCKET_SLURM_OUTPUT_DIR).
   */
  private outputFile(jobId: string, slurmId: string): string {
    return this.config.outputDir
      ? path.join(this.config.outputDir, `sprocket-${jobId.replace(/[^a-zA-Z0-9_.-]/g, '_')}-${slurmId}.out`)
      : path.join(this.jobFolder(jobId), `slurm-${slurmId}.out`);
  }

  private save(): void {
    writeSubmitted(
      this.ctx.workDir,
      [...this.tracked.values()].map(({ job_id, slurm_id, submitted, resubmits, resources }) => ({
        job_id,
        slurm_id,
        submitted,
        resubmits,
        resources,
      })),
    );
  }

  /** The runner's shutdown: the poll loop ends with it and every job is left for the next engine. */
  attach(shutdown: AbortSignal): void {
    shutdown.addEventListener('abort', () => this.stopped.abort(), { once: true });
  }

  private track(entry: SubmittedJob): Tracked {
    let resolve!: (o: JobOutcome) => void;
    const promise = new Promise<JobOutcome>((r) => {
      resolve = r;
    });
    const t: Tracked = { ...entry, lastBeat: Date.now(), resolve, promise };
    this.tracked.set(entry.job_id, t);
    // An engine that stops leaves its jobs on the cluster: the next one on this folder takes them up.
    this.stopped.signal.addEventListener('abort', () => resolve('abandoned'), { once: true });
    this.loop ??= this.poll();
    return t;
  }

  /**
   * The jobs an engine on this folder submitted before (the state file, and squeue's jobs carrying
   * this engine's comment), tracked again; their outcomes for the runner to count.
   */
  async adopt(): Promise<Promise<JobOutcome>[]> {
    const known = new Map(readSubmitted(this.ctx.workDir).map((j) => [j.job_id, j]));
    try {
      for (const q of (await squeueMine()).values()) {
        const jobId = q.name.startsWith('sprocket-') ? q.name.slice('sprocket-'.length) : '';
        if (q.comment === this.comment && jobId && !known.has(jobId) && isLive(q.state))
          known.set(jobId, { job_id: jobId, slurm_id: q.id, submitted: new Date().toISOString(), resubmits: 0, resources: {} });
      }
    } catch (err) {
      this.ctx.log.warn(`squeue failed while looking for this engine's Slurm jobs: ${message(err)}`);
    }
    const outcomes: Promise<JobOutcome>[] = [];
    for (const entry of known.values()) {
      const t = this.track(entry);
      outcomes.push(t.promise);
      await this.say(t, [`Engine ${this.ctx.engineId} resumed tracking Slurm job ${t.slurm_id} after a restart`]);
    }
    if (known.size) {
      this.save();
      this.ctx.log.info(`resumed tracking ${known.size} Slurm job(s) submitted before a restart`);
    }
    return outcomes;
  }

  /** The runner's job function in slurm mode: submit, then the outcome once the cluster is done with it. */
  async submit(job: ClaimedJob): Promise<JobOutcome> {
    const gear = `${job.gear_info?.name ?? job.gear_id}${job.gear_info?.version ? ` ${job.gear_info.version}` : ''}`;
    const resources = job.request.target.resources ?? {};
    const lines = [
      `Engine ${this.ctx.engineId} (Sprocket engine ${SPROCKET_VERSION}) claimed the job: gear ${gear}, attempt ${job.attempt ?? 1}; submitting it to Slurm`,
    ];
    let slurmId: string;
    try {
      slurmId = await this.sbatch(job.id, resources);
    } catch (err) {
      const reason = `The job could not be submitted to Slurm: ${message(err)}`;
      this.ctx.log.warn(`job ${job.id}: ${reason}`);
      return this.fail(job.id, reason, lines);
    }
    const entry: SubmittedJob = { job_id: job.id, slurm_id: slurmId, submitted: new Date().toISOString(), resubmits: 0, resources };
    const t = this.track(entry);
    this.save();
    lines.push(`Submitted to Slurm as job ${slurmId}`);
    await this.say(t, lines);
    await this.report(t, { state: 'PENDING', summary: 'submitted to cluster' });
    return t.promise;
  }

  private async sbatch(jobId: string, resources: SubmittedJob['resources']): Promise<string> {
    const dir = this.jobFolder(jobId);
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
    const script = path.join(dir, 'job.sh');
    const execArgv = stepExecArgv(process.execArgv);
    await fs.promises.writeFile(script, batchScript([this.config.node, ...execArgv, stepScript(), '--job', jobId]), { mode: 0o700 });
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && (PASSED_ENV.test(k) || k.startsWith('SLURM_CONF'))) env[k] = v;
    // The credential travels in the job's environment (sbatch --export), which Slurm keeps to
    // itself and the job's user; it is never on a command line or in a file others can read.
    Object.assign(env, {
      SPROCKET_API_KEY: this.key,
      SPROCKET_API_URL: this.ctx.client.apiUrl,
      SPROCKET_EXECUTOR: this.config.innerExecutor,
      SPROCKET_ENGINE_ID: this.ctx.engineId,
    });
    const args = sbatchArgs({ jobId, resources, config: this.config, outputFile: this.outputFile(jobId, '%j'), comment: this.comment });
    return sbatch(args, script, env);
  }

  /** System lines for the job's log; the request doubles as a heartbeat and says the job's state. */
  private async say(t: Tracked, msgs: string[]): Promise<void> {
    await this.beat(
      t,
      msgs.map((msg) => ({ fd: LOG_FD.system, msg })),
    );
  }

  private async beat(t: Tracked, lines: JobLogLine[] = []): Promise<void> {
    t.lastBeat = Date.now();
    let state: string | undefined;
    try {
      state = (await this.ctx.client.logs(t.job_id, lines)).state;
    } catch (err) {
      if (isHttpError(err, 409))
        state = await this.ctx.client.logs(t.job_id, []).then(
          (r) => r.state,
          () => undefined,
        );
      else if (isHttpError(err, 404, 403, 410)) state = 'gone';
      else this.ctx.log.debug(`job ${t.job_id}: heartbeat failed: ${message(err)}`);
    }
    if (!state || state === 'running' || t.apiState) return;
    t.apiState = state;
    // A cancel from Sprocket ends the Slurm job too, and so does losing a job still queued there.
    // A running step learns of either from its own heartbeat and stops; one that finished the job
    // is left to end by itself.
    if (state === 'cancelled' || ((state === 'gone' || state === 'failed') && t.seen?.startsWith('PENDING|'))) {
      t.cancelledBySprocket = true;
      await scancel(t.slurm_id).catch((err) => this.ctx.log.warn(`scancel ${t.slurm_id} failed: ${message(err)}`));
    }
  }

  /** The job document's `cluster`, on a change only; refused once the job ended on the API (ignored). */
  private async report(t: Tracked, s: { state: string; reason?: string; summary: string }): Promise<void> {
    const key = `${s.state}|${s.summary}`;
    if (t.seen === key) return;
    t.seen = key;
    const body: ClusterState = { scheduler: 'slurm', job_id: t.slurm_id, updated: new Date().toISOString(), ...s };
    await this.ctx.client.cluster(t.job_id, body).catch((err) => {
      if (!isHttpError(err, 404, 409)) this.ctx.log.debug(`job ${t.job_id}: cluster state not recorded: ${message(err)}`);
    });
  }

  private async poll(): Promise<void> {
    while (!this.stopped.signal.aborted) {
      const round = Date.now();
      if (this.tracked.size) await this.round().catch((err) => this.ctx.log.error(`Slurm poll: ${message(err)}`));
      await sleep(Math.max(0, this.config.pollMs - (Date.now() - round)), this.stopped.signal);
    }
  }

  /** One look at the cluster for every tracked job, then the heartbeats that are due. */
  private async round(): Promise<void> {
    let queue: Map<string, QueuedJob> | undefined;
    try {
      queue = await squeueMine();
      if (this.squeueFailures) this.ctx.log.info('squeue answers again');
      this.squeueFailures = 0;
    } catch (err) {
      // The controller may be restarting: jobs stay the engine's (heartbeats go on), nothing is ended.
      if (this.squeueFailures++ % 30 === 0) this.ctx.log.warn(`squeue failed; the Slurm jobs are left as they are: ${message(err)}`);
    }
    const jobs = [...this.tracked.values()].filter((t) => !t.ending);
    if (queue) {
      for (const t of jobs) {
        const q = queue.get(t.slurm_id);
        if (q && isLive(q.state)) {
          const summary = liveSummary(q.state, q.reason, q.nodes);
          if (t.seen !== `${q.state}|${summary}`) {
            if (!t.apiState) await this.say(t, [`Slurm job ${t.slurm_id}: ${summary}`]);
            await this.report(t, { state: q.state, ...(q.reason && q.reason !== 'None' ? { reason: q.reason } : {}), summary });
          }
        } else {
          t.ending = true;
          void this.end(t, q).catch((err) => {
            t.ending = false;
            this.ctx.log.error(`job ${t.job_id}: ${message(err)}`);
          });
        }
      }
    }
    // Well inside the server's heartbeat timeout (60 s by default), and a cancel is seen within
    // seconds; with many queued jobs the period grows to keep the request rate bounded.
    const every = Math.min(20_000, Math.max(2_000, jobs.length * 50));
    const due = jobs.filter((t) => !t.ending && !t.apiState && Date.now() - t.lastBeat >= every);
    for (let i = 0; i < due.length; i += BEAT_PARALLEL) await Promise.all(due.slice(i, i + BEAT_PARALLEL).map((t) => this.beat(t)));
  }

  /** How the Slurm job ended, from scontrol (kept for MinJobAge), else sacct, else squeue's last word. */
  private async endedJob(t: Tracked, q?: QueuedJob): Promise<EndedJob | undefined | 'live'> {
    const fields = (await scontrolShowJob(t.slurm_id)) ?? (await sacctJob(t.slurm_id));
    if (fields && isLive(fields.JobState!)) return 'live';
    const ended: EndedJob | undefined = fields
      ? { state: fields.JobState!, exitCode: fields.ExitCode, reason: fields.Reason, timeLimit: fields.TimeLimit }
      : q
        ? { state: q.state, reason: q.reason }
        : undefined;
    if (ended?.state === 'CANCELLED')
      ended.cancelledBy = t.cancelledBySprocket ? 'by Sprocket' : fields?.CancelledBy ? `by ${fields.CancelledBy}` : undefined;
    return ended;
  }

  private async end(t: Tracked, q?: QueuedJob): Promise<void> {
    const ended = await this.endedJob(t, q);
    if (ended === 'live') {
      t.ending = false;
      return;
    }
    // What the API says now: the step finishes the job itself before its Slurm job ends.
    if (!t.apiState) await this.beat(t);
    if (!t.apiState) {
      if (ended && worthResubmitting(ended) && t.resubmits < MAX_RESUBMITS) return this.resubmit(t, ended);
      const reason =
        (ended ? endedReason(t.slurm_id, ended) : undefined) ??
        (ended
          ? `Slurm job ${t.slurm_id} ended (${ended.state}) without the node-side step reporting the job's end`
          : `Slurm no longer knows job ${t.slurm_id}, and the node-side step did not report the job's end`);
      const tail = await this.outputTail(t);
      await this.report(t, { state: ended?.state ?? 'UNKNOWN', summary: reason });
      const outcome = await this.fail(
        t.job_id,
        `${reason.charAt(0).toUpperCase()}${reason.slice(1)}${tail ? `; its output ended with: ${tail}` : ''}`,
        [],
        exitOf(ended?.exitCode).code,
      );
      return this.forget(t, outcome);
    }
    if (ended)
      await this.report(t, {
        state: ended.state,
        summary: endedReason(t.slurm_id, ended) ?? 'completed on cluster',
      });
    const outcome: JobOutcome =
      t.apiState === 'complete' ? 'complete' : t.apiState === 'failed' ? 'failed' : t.apiState === 'cancelled' ? 'cancelled' : 'lost';
    this.ctx.log.info(`job ${t.job_id} (Slurm job ${t.slurm_id}, ${ended?.state ?? 'gone'}): ${outcome}`);
    return this.forget(t, outcome);
  }

  private async resubmit(t: Tracked, ended: EndedJob): Promise<void> {
    const why = endedReason(t.slurm_id, ended);
    try {
      const id = await this.sbatch(t.job_id, t.resources);
      await this.say(t, [`${why}; submitted again as Slurm job ${id}`]);
      t.slurm_id = id;
      t.resubmits++;
      t.seen = undefined;
      t.ending = false;
      this.save();
    } catch (err) {
      const outcome = await this.fail(t.job_id, `${why}, and it could not be submitted again: ${message(err)}`);
      this.forget(t, outcome);
    }
  }

  /** The last line Slurm wrote to the job's output file, when this engine can read it (shared folder). */
  private async outputTail(t: Tracked): Promise<string | undefined> {
    try {
      const text = await fs.promises.readFile(this.outputFile(t.job_id, t.slurm_id), 'utf8');
      const last = text.trimEnd().split('\n').map(quotableLine).filter(Boolean).pop();
      return last || undefined;
    } catch {
      return undefined;
    }
  }

  private async fail(jobId: string, reason: string, lines: string[] = [], exitCode?: number): Promise<JobOutcome> {
    try {
      await retrying(
        () =>
          this.ctx.client.complete(jobId, {
            success: false,
            failure_reason: reason,
            ...(exitCode !== undefined ? { exit_code: exitCode } : {}),
            logs: [...lines, reason].map((msg) => ({ fd: LOG_FD.system, msg })),
          }),
        { forMs: FINISH_RETRY_MS },
      );
      return 'failed';
    } catch (err) {
      this.ctx.log.warn(`job ${jobId}: could not report its failure (${message(err)})`);
      return 'lost';
    }
  }

  private forget(t: Tracked, outcome: JobOutcome): void {
    this.tracked.delete(t.job_id);
    this.save();
    if (!this.ctx.keepJobDirs) fs.rmSync(this.jobFolder(t.job_id), { recursive: true, force: true });
    t.resolve(outcome);
  }

  /** Stops the poll loop; the jobs stay on the cluster and in the state file for the next engine. */
  async stop(): Promise<void> {
    this.stopped.abort();
    await this.loop;
  }
}
