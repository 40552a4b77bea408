import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApiError, HttpTransport, type Transport } from '@sprocket/sdk';
import {
  type AskBody,
  type ClusterState,
  type CompleteReply,
  type FinishBody,
  type JobLogLine,
  type JobRequest,
  type LogsReply,
  type PrepareCompleteReply,
  parseApiKey,
  SPROCKET_VERSION,
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

/** The API answered with this error status (any status when none is given). */
export function isHttpError(err: unknown, ...statuses: number[]): err is ApiError {
  return err instanceof ApiError && err.status !== 0 && (statuses.length === 0 || statuses.includes(err.status));
}

/** Worth trying again later: the API could not be reached, or failed on its side. */
export function isTransient(err: unknown): boolean {
  if (err instanceof ApiError) return err.status === 0 || err.status >= 500 || err.status === 429 || err.status === 408;
  if (err instanceof Error && err.name === 'AbortError') return false;
  return err instanceof TypeError || (err instanceof Error && err.name === 'TimeoutError');
}

const CALL_TIMEOUT_MS = 60_000;

/**
 * The engine side of docs/engine-protocol.md: every HTTP call the engine makes, through the SDK's
 * transport. The transport's own retries are off: the engine retries with its backoff
 * (`backoff.ts`), which knows how long a job's finish may keep trying.
 */
export class EngineClient {
  readonly apiUrl: string;
  private readonly http: Transport;

  constructor(key: string, apiUrl?: string) {
    const parsed = parseKey(key);
    this.apiUrl = (apiUrl ?? parsed.apiUrl).replace(/\/+$/, '');
    this.http = new HttpTransport(this.apiUrl, parsed.secret, { retries: 0, userAgent: `Sprocket engine/${SPROCKET_VERSION}` });
  }

  private json<T>(uri: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.http.requestJson<T>('POST', uri, { body, signal: signal ?? AbortSignal.timeout(CALL_TIMEOUT_MS) });
  }

  /** Claims up to `return.jobs` jobs; long-polls `wait` seconds when none is queued. */
  async ask(body: AskBody, signal: AbortSignal): Promise<ClaimedJob[]> {
    const timeout = AbortSignal.timeout(((body.wait ?? 0) + 30) * 1000);
    const res = await this.json<{ jobs?: ClaimedJob[] }>('/jobs/ask', body, AbortSignal.any([signal, timeout]));
    return (res?.jobs ?? []).map((j) => ({ ...j, id: j.id ?? (j as { _id?: string })._id }));
  }

  /** The gear's config.json, byte for byte as the API serves it. */
  async configJson(jobId: string, signal?: AbortSignal): Promise<Buffer> {
    const res = await this.http.request('GET', `/jobs/${encodeURIComponent(jobId)}/config.json`, {
      signal: signal ?? AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    return Buffer.from(await res.arrayBuffer());
  }

  /** A download as a stream, for content too large to hold in memory. */
  stream(uri: string, signal?: AbortSignal): Promise<Readable> {
    return this.http.stream({ method: 'GET', path: uri }, { signal });
  }

  /** Streams a download into a file and returns its size. */
  async download(uri: string, dest: string, signal?: AbortSignal): Promise<number> {
    await pipeline(await this.stream(uri, signal), fs.createWriteStream(dest), { signal });
    return (await fs.promises.stat(dest)).size;
  }

  /**
   * The container image archive uploaded with a gear (`HEAD /gears/{id}/image`): its sha-256, size
   * and the image it provides, or undefined when the gear has none.
   */
  async gearImage(gearId: string, signal?: AbortSignal): Promise<{ digest: string; size: number; image: string } | undefined> {
    try {
      const res = await this.http.request('HEAD', `/gears/${encodeURIComponent(gearId)}/image`, {
        signal: signal ?? AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
      const digest = res.headers.get('x-image-digest') ?? '';
      const image = res.headers.get('x-image-name') ?? '';
      if (!/^sha256:[0-9a-f]{64}$/.test(digest) || !image)
        throw new Error(`GET /gears/${gearId}/image answered without its digest and name`);
      return { digest, size: Number(res.headers.get('content-length') ?? 0), image };
    } catch (err) {
      if (isHttpError(err, 404)) return undefined;
      throw err;
    }
  }

  /** Appends log lines; doubles as the heartbeat and tells the job's current state. */
  logs(jobId: string, lines: JobLogLine[]): Promise<LogsReply> {
    return this.json(`/jobs/${encodeURIComponent(jobId)}/logs`, lines);
  }

  prepareComplete(jobId: string, body: FinishBody): Promise<PrepareCompleteReply> {
    return this.json(`/jobs/${encodeURIComponent(jobId)}/prepare-complete`, body);
  }

  /** Multipart upload of a job's outputs to its output uri. */
  upload(uri: string, ticket: string, form: FormData, signal?: AbortSignal): Promise<unknown> {
    const sep = uri.includes('?') ? '&' : '?';
    return this.http.requestJson('POST', `${uri}${sep}job_ticket=${encodeURIComponent(ticket)}`, { data: form, signal });
  }

  /** A job this engine claimed, as `GET /jobs/{id}` shows it (with its request while it runs). */
  async job(jobId: string): Promise<ClaimedJob & { state: string }> {
    const j = await this.http.requestJson<ClaimedJob & { state: string }>('GET', `/jobs/${encodeURIComponent(jobId)}`, {
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    return { ...j, id: j.id ?? (j as { _id?: string })._id };
  }

  /** Where the job stands on the batch cluster it was handed to (shown as the job's `cluster`). */
  cluster(jobId: string, state: ClusterState): Promise<unknown> {
    return this.http.requestJson('PUT', `/jobs/${encodeURIComponent(jobId)}/cluster`, {
      body: state,
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
  }

  complete(jobId: string, body: FinishBody): Promise<CompleteReply> {
    return this.json(`/jobs/${encodeURIComponent(jobId)}/complete`, body);
  }
}
