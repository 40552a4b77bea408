import type { DatabaseHandle } from '../db/dialect.js';

const CHANNEL = 'sprocket_jobs';
/** How often a waiting claim looks again on its own: covers other processes that cannot notify us. */
export const FALLBACK_POLL_MS = 2000;

/**
 * Wakes long-polling claims when jobs are queued. In-process waiters are woken directly; other
 * server processes hear it through the database (PostgreSQL NOTIFY) where there is such a thing.
 * A generation counter closes the gap between "found nothing" and "started waiting".
 */
export class JobNotifier {
  private generation = 0;
  private waiters = new Set<() => void>();
  private closed = false;
  private listening?: Promise<void>;

  constructor(private readonly handle: DatabaseHandle) {}

  get current(): number {
    return this.generation;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private wakeAll(): void {
    this.generation++;
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /** Subscribes to cross-process wake-ups once; failure to do so only costs latency. */
  private ensureListening(): Promise<void> {
    const { handle } = this;
    if (!handle.listen) return Promise.resolve();
    this.listening ??= handle
      .listen(CHANNEL, () => this.wakeAll())
      .then(() => undefined)
      .catch(() => undefined);
    return this.listening;
  }

  /** New work is queued. */
  notify(): void {
    this.wakeAll();
    void this.handle.notify?.(CHANNEL).catch(() => undefined);
  }

  /**
   * Resolves when notified after `seen` (a `current` value read before the caller last looked),
   * after `ms`, on `signal`, or when the server closes.
   */
  async wait(seen: number, ms: number, signal?: AbortSignal): Promise<void> {
    await this.ensureListening();
    if (this.closed || this.generation !== seen || signal?.aborted || ms <= 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
  }

  /** Releases every waiter (server shutdown) and refuses to wait from now on. */
  close(): void {
    this.closed = true;
    this.wakeAll();
  }
}
