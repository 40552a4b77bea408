import { StringDecoder } from 'node:string_decoder';
import { type JobLogLine, LOG_FD } from '@sprocket/types';
import { isHttpError, isTransient } from './client.js';

export interface LogSink {
  logs(jobId: string, lines: JobLogLine[]): Promise<{ state?: string }>;
}

/** One line longer than this is sent in pieces: a gear printing a huge blob must not stall the log. */
const MAX_LINE = 64 * 1024;
/** Send early once this much is waiting, rather than at the next tick. */
const EAGER_LINES = 500;
const EAGER_BYTES = 256 * 1024;
/** What is kept while the API is unreachable; beyond it the oldest lines give way. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** How much of the gear's last line a failure reason quotes. */
export const LAST_LINE_MAX = 300;

/** A log line as a failure reason may quote it: trimmed, control characters out, bounded. */
export function quotableLine(msg: string): string {
  // Terminal escape sequences, then the remaining control characters: stripping them is the point.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: see above
  const ESCAPES = /\x1b\[[0-9;?]*[A-Za-z]/g;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: see above
  const CONTROLS = /[\x00-\x1f\x7f]+/g;
  const clean = msg.replace(ESCAPES, '').replace(CONTROLS, ' ').trim();
  return clean.length > LAST_LINE_MAX ? `${clean.slice(0, LAST_LINE_MAX - 1)}…` : clean;
}

class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(private readonly emit: (line: string) => void) {}

  write(chunk: Buffer): void {
    const text = this.partial + this.decoder.write(chunk);
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.emit(line);
    while (this.partial.length > MAX_LINE) {
      this.emit(this.partial.slice(0, MAX_LINE));
      this.partial = this.partial.slice(MAX_LINE);
    }
  }

  end(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest) this.emit(rest);
  }
}

/**
 * A running job's log, sent to `POST /jobs/{id}/logs` in batches at least every `intervalMs` (with
 * nothing to say it still sends, because that request is also the job's heartbeat). The answer
 * carries the job's state: anything but `running` (cancelled by a user, or failed by the orphan
 * sweep) is reported through `onState` so the engine stops the gear.
 */
export class JobLog {
  private buffer: JobLogLine[] = [];
  private bufferedBytes = 0;
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;
  private closed = false;
  private readonly out = new LineSplitter((msg) => this.push(LOG_FD.stdout, msg));
  private readonly err = new LineSplitter((msg) => this.push(LOG_FD.stderr, msg));
  /** Set once the API has said the job is no longer running (or no longer exists). */
  stateSeen?: string;
  /** Last error of a failed send, for the engine's own diagnostics. */
  lastError?: unknown;
  /** The gear's last non-empty line on each stream, for the failure reason of a failed run. */
  private readonly lastLines: { stdout?: string; stderr?: string } = {};

  constructor(
    private readonly sink: LogSink,
    readonly jobId: string,
    private readonly opts: { intervalMs?: number; onState?: (state: string) => void } = {},
  ) {}

  start(): void {
    this.schedule();
  }

  stdout(chunk: Buffer): void {
    this.out.write(chunk);
  }

  stderr(chunk: Buffer): void {
    this.err.write(chunk);
  }

  /** A line from the engine itself (fd -1). */
  system(msg: string): void {
    this.push(LOG_FD.system, msg);
  }

  /** Emits the gear's unterminated last lines, once its output has ended. */
  endOutput(): void {
    this.out.end();
    this.err.end();
  }

  /** The gear's last non-empty stderr line (else stdout line), trimmed and bounded; undefined when it printed nothing. */
  lastGearLine(): string | undefined {
    return this.lastLines.stderr ?? this.lastLines.stdout;
  }

  private push(fd: number, msg: string): void {
    if (fd === LOG_FD.stdout || fd === LOG_FD.stderr) {
      const line = quotableLine(msg);
      if (line) this.lastLines[fd === LOG_FD.stderr ? 'stderr' : 'stdout'] = line;
    }
    for (let i = 0; i < Math.max(1, msg.length); i += MAX_LINE) {
      const piece = msg.slice(i, i + MAX_LINE);
      this.buffer.push({ fd, msg: piece });
      this.bufferedBytes += piece.length;
    }
    while (this.bufferedBytes > MAX_BUFFERED_BYTES && this.buffer.length > 1) {
      this.bufferedBytes -= this.buffer.shift()!.msg.length;
    }
    if (!this.inFlight && (this.buffer.length >= EAGER_LINES || this.bufferedBytes >= EAGER_BYTES)) void this.flush();
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), this.opts.intervalMs ?? 1000);
  }

  /** Sends what is buffered (possibly nothing: a heartbeat). Concurrent calls share one request. */
  flush(): Promise<void> {
    this.inFlight ??= this.send().finally(() => {
      this.inFlight = undefined;
      this.schedule();
    });
    return this.inFlight;
  }

  private async send(): Promise<void> {
    const lines = this.buffer;
    const bytes = this.bufferedBytes;
    this.buffer = [];
    this.bufferedBytes = 0;
    try {
      const res = await this.sink.logs(this.jobId, lines);
      this.lastError = undefined;
      if (res?.state && res.state !== 'running') this.sawState(res.state);
    } catch (err) {
      this.lastError = err;
      if (isTransient(err)) {
        // Keep them for the next attempt, ahead of anything logged meanwhile.
        this.buffer = lines.concat(this.buffer);
        this.bufferedBytes += bytes;
      } else if (isHttpError(err, 409)) {
        // The log takes lines only while the job runs; an empty heartbeat still says what it became
        // (cancelled, say), which decides how the engine ends the gear.
        const state = await this.sink.logs(this.jobId, []).then(
          (r) => r?.state,
          () => undefined,
        );
        this.sawState(state && state !== 'running' ? state : 'gone');
      } else if (isHttpError(err, 404, 410)) {
        this.sawState('gone');
      }
    }
  }

  private sawState(state: string): void {
    if (this.stateSeen) return;
    this.stateSeen = state;
    this.opts.onState?.(state);
  }

  /** Sends the rest, including any unterminated last line, and stops the heartbeat. */
  async close(): Promise<void> {
    this.out.end();
    this.err.end();
    await this.inFlight;
    if (this.buffer.length > 0) await this.flush();
    if (this.buffer.length > 0 && this.lastError) {
      // One more try after a transient failure; then the lines are given up.
      await this.flush();
    }
    this.closed = true;
    clearTimeout(this.timer);
  }

  /**
   * Ends the log and hands back what has not been sent (after any send in flight), for the caller to
   * deliver with the job's completion: one request fewer than a last flush.
   */
  async drain(): Promise<JobLogLine[]> {
    this.out.end();
    this.err.end();
    this.closed = true;
    clearTimeout(this.timer);
    await this.inFlight;
    const lines = this.buffer;
    this.buffer = [];
    this.bufferedBytes = 0;
    return lines;
  }

  /** Stops the heartbeat without sending anything more: the job is being abandoned. */
  abandon(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}
