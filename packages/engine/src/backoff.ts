import { isTransient } from './client.js';

/** Exponential delays with jitter, for an API that is down: 0.5 s doubling to 30 s. */
export class Backoff {
  private attempt = 0;

  constructor(
    readonly minMs = 500,
    readonly maxMs = 30_000,
  ) {}

  next(): number {
    const base = Math.min(this.maxMs, this.minMs * 2 ** this.attempt++);
    return Math.round(base / 2 + Math.random() * (base / 2));
  }

  reset(): void {
    this.attempt = 0;
  }

  get failures(): number {
    return this.attempt;
  }
}

/** Waits, but not past an abort. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Repeats a call while it fails transiently (API unreachable, 5xx) for up to `forMs`, so a short
 * API outage does not throw away a finished job's results. Other errors are thrown at once.
 */
export async function retrying<T>(
  fn: () => Promise<T>,
  opts: { forMs: number; signal?: AbortSignal; onRetry?: (err: unknown) => void },
): Promise<T> {
  const backoff = new Backoff(500, 10_000);
  const until = Date.now() + opts.forMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err) || Date.now() >= until || opts.signal?.aborted) throw err;
      opts.onRetry?.(err);
      await sleep(Math.min(backoff.next(), Math.max(0, until - Date.now())), opts.signal);
    }
  }
}
