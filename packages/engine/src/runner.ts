import { Backoff, sleep } from './backoff.js';
import { type ClaimedJob, isHttpError, isTransient } from './client.js';
import { type EngineContext, type JobOutcome, runJob } from './worker.js';

export interface RunnerOptions {
  /** Jobs run at once. */
  concurrency: number;
  /** Capabilities offered to gears (only `networking` is defined). */
  capabilities: string[];
  /** Long-poll length of each ask, seconds (the API caps it at 60). */
  waitSeconds: number;
  /** After a stop request, how long running jobs may go on before they are stopped and left for retry. */
  shutdownGraceMs: number;
  /** How a claimed job is run (default: runJob, here); slurm mode submits it to the cluster instead. */
  runJob?: (job: ClaimedJob, shutdown: AbortSignal) => Promise<JobOutcome>;
  /** Jobs an engine before this one left running elsewhere (slurm mode), counted as taking slots. */
  adopt?: () => Promise<Promise<JobOutcome>[]>;
  /** Jobs run elsewhere and outlive the engine: a stop leaves them at once, with no grace to wait. */
  detached?: boolean;
}

/** The most jobs one ask may claim (the API's limit). */
const MAX_ASK = 100;

/** The API does not accept the engine (wrong or revoked key, not an engine key): retrying will not help. */
export class FatalEngineError extends Error {}

/**
 * The pool. One ask is outstanding at a time, for as many jobs as there are free slots; it
 * long-polls, so a queued job starts as soon as the API sees it and an idle engine costs one request
 * per wait. When every slot is busy, the next ask waits for a job to finish. An unreachable API is
 * retried with exponential backoff; an empty answer is followed by the next ask straight away.
 */
export class Runner {
  private readonly active = new Set<Promise<JobOutcome>>();
  private readonly stopAsking = new AbortController();
  private readonly shutdown = new AbortController();
  private stopping = false;
  private graceTimer?: NodeJS.Timeout;
  private slotFreed?: () => void;
  readonly counts: Record<JobOutcome, number> = { complete: 0, failed: 0, cancelled: 0, abandoned: 0, lost: 0 };

  constructor(
    private readonly ctx: EngineContext,
    private readonly opts: RunnerOptions,
  ) {}

  /** Aborted when running jobs must stop now (the grace ran out, or a second stop). */
  get shutdownSignal(): AbortSignal {
    return this.shutdown.signal;
  }

  get running(): number {
    return this.active.size;
  }

  /** Runs until stop() and every job it started has ended; rejects on a fatal API answer. */
  async run(): Promise<void> {
    const backoff = new Backoff();
    try {
      for (const p of (await this.opts.adopt?.()) ?? []) this.add(p);
      while (!this.stopping) {
        if (this.active.size >= this.opts.concurrency) {
          await new Promise<void>((resolve) => {
            this.slotFreed = resolve;
          });
          continue;
        }
        const asked = Date.now();
        let jobs: ClaimedJob[];
        try {
          jobs = await this.ctx.client.ask(
            {
              capabilities: this.opts.capabilities,
              return: { jobs: Math.min(MAX_ASK, this.opts.concurrency - this.active.size) },
              engine: this.ctx.engineId,
              wait: this.opts.waitSeconds,
            },
            this.stopAsking.signal,
          );
        } catch (err) {
          if (this.stopping) break;
          if (isHttpError(err, 401, 403)) {
            throw new FatalEngineError(`the API refuses this engine's key: ${err.message}`);
          }
          const delay = backoff.next();
          const why = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
          if (backoff.failures === 1 || backoff.failures % 10 === 0) {
            this.ctx.log.warn(
              `cannot reach the API at ${this.ctx.client.apiUrl} (${why}); retrying${isTransient(err) ? '' : ' (unexpected answer)'} in ${Math.round(delay / 100) / 10} s`,
            );
          }
          await sleep(delay, this.stopAsking.signal);
          continue;
        }
        if (backoff.failures > 0) this.ctx.log.info(`API at ${this.ctx.client.apiUrl} reachable again`);
        backoff.reset();
        for (const job of jobs) this.start(job);
        // An API that answers an empty ask at once (no long-poll support) must not be hammered.
        if (jobs.length === 0 && Date.now() - asked < 1000) await sleep(1000, this.stopAsking.signal);
      }
    } finally {
      this.stopping = true;
      this.armGrace();
      await Promise.all(this.active);
      clearTimeout(this.graceTimer);
    }
  }

  private start(job: ClaimedJob): void {
    this.add(this.opts.runJob ? this.opts.runJob(job, this.shutdown.signal) : runJob(this.ctx, job, this.shutdown.signal));
  }

  private add(run: Promise<JobOutcome>): void {
    const p = run.then((outcome) => {
      this.counts[outcome]++;
      return outcome;
    });
    this.active.add(p);
    void p.finally(() => {
      this.active.delete(p);
      const wake = this.slotFreed;
      this.slotFreed = undefined;
      wake?.();
    });
  }

  private armGrace(): void {
    if (this.graceTimer || this.shutdown.signal.aborted) return;
    if (this.active.size > 0)
      this.ctx.log.info(`waiting up to ${Math.round(this.opts.shutdownGraceMs / 1000)} s for ${this.active.size} running job(s)`);
    this.graceTimer = setTimeout(() => this.shutdown.abort(), this.opts.shutdownGraceMs);
  }

  /**
   * First call: take no more work and give running jobs the grace period. Second call: stop them now.
   * Jobs stopped this way are not failed by the engine; the API's orphan sweep retries them.
   */
  stop(): void {
    if (this.stopping) {
      this.shutdown.abort();
      return;
    }
    this.stopping = true;
    this.stopAsking.abort();
    this.slotFreed?.();
    if (this.opts.detached) this.shutdown.abort();
    this.armGrace();
  }
}
