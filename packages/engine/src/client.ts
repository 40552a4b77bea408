import fs from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import {
  type AskBody,
  type CompleteReply,
  type FinishBody,
  type JobLogLine,
  type JobRequest,
  type LogsReply,
  type PrepareCompleteReply,
  parseApiKey,
} from '@sprocket/types';

/** Where an engine key says the API is (Flywheel's compound key form, as the SDK reads it). */
export function parseKey(key: string): { apiUrl: string; secret: string } {
  const { baseUrl, secret } = parseApiKey(key);
  return { apiUrl: baseUrl, secret };
}

/** A job as `POST /jobs/ask` hands it out. */
export interface ClaimedJob {
  id: string;
  gear_id: string;
  gear_info?: { name?: string; version?: string; [k: string]: unknown };
  destination: { type: string; id: string };
  attempt?: number;
  request: JobRequest;
  [k: string]: unknown;
}

/** The API answered with an error status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    what: string,
  ) {
    const detail = body && typeof body === 'object' && 'message' in body ? String((body as { message: unknown }).message) : String(body ?? '');
    super(`${what}: HTTP ${status}${detail ? ` ${detail}` : ''}`);
  }
}

/** Worth trying again later: the API could not be reached, or failed on its side. */
export function isTransient(err: unknown): boolean {
  if (err instanceof HttpError) return err.status >= 500 || err.status === 429 || err.status === 408;
  if (err instanceof Error && err.name === 'AbortError') return false;
  return err instanceof TypeError || (err instanceof Error && err.name === 'TimeoutError');
}

const CALL_TIMEOUT_MS = 60_000;

/** The engine side of docs/engine-protocol.md: every HTTP call the engine makes. */
export class EngineClient {
  readonly apiUrl: string;
  private readonly auth: string;

  constructor(key: string, apiUrl?: string) {
    const parsed = parseKey(key);
    this.apiUrl = (apiUrl ?? parsed.apiUrl).replace(/\/+$/, '');
    this.auth = `scitran-user ${key.trim()}`;
  }

  private async fetch(method: string, uri: string, init: { body?: FormData | string; json?: unknown; signal?: AbortSignal } = {}): Promise<Response> {
    const headers: Record<string, string> = { Authorization: this.auth };
    let body = init.body;
    if (init.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    const res = await fetch(this.apiUrl + uri, { method, headers, body, signal: init.signal });
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      throw new HttpError(res.status, parsed, `${method} ${uri.split('?')[0]}`);
    }
    return res;
  }

  private async json<T>(method: string, uri: string, json?: unknown, signal?: AbortSignal): Promise<T> {
    const res = await this.fetch(method, uri, { json, signal: signal ?? AbortSignal.timeout(CALL_TIMEOUT_MS) });
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Claims up to `return.jobs` jobs; long-polls `wait` seconds when none is queued. */
  async ask(body: AskBody, signal: AbortSignal): Promise<ClaimedJob[]> {
    const timeout = AbortSignal.timeout(((body.wait ?? 0) + 30) * 1000);
    const res = await this.json<{ jobs?: ClaimedJob[] }>('POST', '/jobs/ask', body, AbortSignal.any([signal, timeout]));
    return (res?.jobs ?? []).map((j) => ({ ...j, id: j.id ?? (j as { _id?: string })._id }));
  }

  /** The gear's config.json, byte for byte as the API serves it. */
  async configJson(jobId: string, signal?: AbortSignal): Promise<Buffer> {
    const res = await this.fetch('GET', `/jobs/${encodeURIComponent(jobId)}/config.json`, { signal: signal ?? AbortSignal.timeout(CALL_TIMEOUT_MS) });
    return Buffer.from(await res.arrayBuffer());
  }

  /** A download as a stream, for content too large to hold in memory. */
  async stream(uri: string, signal?: AbortSignal): Promise<Readable> {
    const res = await this.fetch('GET', uri, { signal });
    if (!res.body) throw new Error(`GET ${uri}: empty body`);
    return Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
  }

  /** Streams a download into a file and returns its size. */
  async download(uri: string, dest: string, signal?: AbortSignal): Promise<number> {
    await pipeline(await this.stream(uri, signal), fs.createWriteStream(dest), { signal });
    return (await fs.promises.stat(dest)).size;
  }

  /** Appends log lines; doubles as the heartbeat and tells the job's current state. */
  logs(jobId: string, lines: JobLogLine[]): Promise<LogsReply> {
    return this.json('POST', `/jobs/${encodeURIComponent(jobId)}/logs`, lines);
  }

  prepareComplete(jobId: string, body: FinishBody): Promise<PrepareCompleteReply> {
    return this.json('POST', `/jobs/${encodeURIComponent(jobId)}/prepare-complete`, body);
  }

  /** Multipart upload of a job's outputs to its output uri. */
  async upload(uri: string, ticket: string, form: FormData, signal?: AbortSignal): Promise<unknown> {
    const sep = uri.includes('?') ? '&' : '?';
    const res = await this.fetch('POST', `${uri}${sep}job_ticket=${encodeURIComponent(ticket)}`, { body: form, signal });
    const text = await res.text();
    return text ? JSON.parse(text) : undefined;
  }

  complete(jobId: string, body: FinishBody): Promise<CompleteReply> {
    return this.json('POST', `/jobs/${encodeURIComponent(jobId)}/complete`, body);
  }
}
