import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Extraction } from './extract.js';
import { DEFAULT_EXTRACT_LIMITS, type ExtractLimits } from './limits.js';
import type { ExtractReply } from './worker.js';

/** Rejection reason of tasks dropped because the pool closed (not a fact about the file). */
export class PoolClosedError extends Error {}

/** The outcome of one extraction: the header, or why there is none. */
export type Outcome = { ok: true; result: Extraction } | { ok: false; error: string };

interface Task {
  id: number;
  file: string;
  resolve(o: Outcome): void;
  reject(e: Error): void;
  timer?: NodeJS.Timeout;
  timedOut?: boolean;
}

interface Slot {
  worker: Worker;
  task?: Task;
}

/**
 * The worker's entry. From TypeScript sources (tsx, vitest) Node 20 workers do not inherit the
 * parent's loader hooks, so a tiny ESM bootstrap registers tsx in the worker and imports the source.
 */
function workerEntry(): URL {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url);
  if (!fromSource) return url;
  const tsxDir = path.dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const api = pathToFileURL(path.join(tsxDir, 'dist/esm/api/index.mjs')).href;
  const boot = `import { register } from ${JSON.stringify(api)}; register(); await import(${JSON.stringify(url.href)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}

export function defaultPoolSize(): number {
  // Leave a core to the API; two workers are plenty for header parsing.
  return Math.max(1, Math.min(2, os.availableParallelism() - 1));
}

/**
 * A small pool of worker threads running `extractFile`. Workers start on first use, a crashed or
 * hung worker (timeout) fails only its own task and is replaced on demand.
 */
export class ExtractionPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closed = false;

  /**
   * `limits` bound each file's extraction inside the worker, which then reports why it stopped; the
   * worker is killed only past twice the time limit (at least 30 s more), as a last resort.
   */
  constructor(
    private readonly size = defaultPoolSize(),
    private readonly limits: ExtractLimits = DEFAULT_EXTRACT_LIMITS,
    private readonly timeoutMs = Math.max(2 * limits.timeoutSeconds, limits.timeoutSeconds + 30) * 1000,
  ) {}

  run(file: string): Promise<Outcome> {
    if (this.closed) return Promise.reject(new PoolClosedError('extraction pool is closed'));
    return new Promise<Outcome>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, file, resolve, reject });
      this.dispatch();
    });
  }

  private spawn(): Slot {
    const worker = new Worker(workerEntry(), { workerData: { limits: this.limits }, resourceLimits: { maxOldGenerationSizeMb: 1024 } });
    worker.unref();
    const slot: Slot = { worker };
    worker.on('message', (reply: ExtractReply) => {
      const task = slot.task;
      if (!task || task.id !== reply.id) return;
      this.finish(slot);
      task.resolve(reply.ok ? { ok: true, result: reply.result } : { ok: false, error: reply.error });
      this.dispatch();
    });
    const gone = (why: string) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      const task = slot.task;
      if (task) {
        this.finish(slot);
        if (this.closed) task.reject(new PoolClosedError('extraction pool is closed'));
        else if (task.timedOut)
          task.resolve({ ok: false, error: `header extraction timed out after ${Math.round(this.timeoutMs / 1000)} s` });
        else task.resolve({ ok: false, error: `header extraction crashed: ${why}` });
      }
      this.dispatch();
    };
    worker.on('error', (err) => gone(err.message));
    worker.on('exit', (code) => gone(`worker exited with code ${code}`));
    this.slots.push(slot);
    return slot;
  }

  private finish(slot: Slot): void {
    if (slot.task?.timer) clearTimeout(slot.task.timer);
    slot.task = undefined;
  }

  private dispatch(): void {
    if (this.closed) return;
    while (this.queue.length) {
      const slot = this.slots.find((s) => !s.task) ?? (this.slots.length < this.size ? this.spawn() : undefined);
      if (!slot) return;
      const task = this.queue.shift()!;
      slot.task = task;
      task.timer = setTimeout(() => {
        task.timedOut = true;
        void slot.worker.terminate();
      }, this.timeoutMs);
      task.timer.unref();
      slot.worker.postMessage({ id: task.id, file: task.file });
    }
  }

  /** Drops queued work and stops the workers; their tasks reject with PoolClosedError. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.queue.splice(0)) t.reject(new PoolClosedError('extraction pool is closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
