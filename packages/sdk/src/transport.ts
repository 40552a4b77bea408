import { SPROCKET_VERSION, isErrorCode } from '@sprocket/types';
import { ApiError } from './errors.js';
import { type MultipartPart, multipartBody, newBoundary } from './multipart.js';
import { ROUTES, type RouteName, fillPath } from './routes.js';

export type QueryValue = string | number | boolean | readonly string[] | undefined;

export interface CallOptions {
  params?: Record<string, string | undefined>;
  query?: Record<string, QueryValue>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Aborts the request, and a body still streaming. */
  signal?: AbortSignal;
}

/** What the client is about to send; `onRequest` observers see every request. */
export interface RequestRecord {
  route: RouteName;
  method: string;
  /** The route's path template, e.g. `/{cont}/{id}/files`. */
  template: string;
  /** The filled path, relative to the API base. */
  path: string;
  url: string;
  body?: unknown;
  multipart?: string[];
}

export interface TransportOptions {
  /** Called before each request is sent (tests use it to check requests against the API schema). */
  onRequest?: (r: RequestRecord) => void;
  /** Extra `X-Accept-Feature` values (comma-joined after `Subject-Container`). */
  features?: string[];
  /** How many times idempotent requests are retried on 429/502/503/504 or a dropped connection. */
  retries?: number;
}

const RETRY_STATUS = new Set([429, 502, 503, 504]);
const IDEMPOTENT = new Set(['GET', 'PUT', 'DELETE']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends requests built from the route table, with the key's credentials; turns failures into ApiError. */
export class Transport {
  private readonly headers: Record<string, string>;

  constructor(
    readonly baseUrl: string,
    secret: string,
    private readonly opts: TransportOptions = {},
  ) {
    this.headers = {
      Authorization: `scitran-user ${secret}`,
      'X-Accept-Feature': ['Subject-Container', ...(opts.features ?? [])].join(','),
      'User-Agent': `Sprocket SDK/${SPROCKET_VERSION} (Node ${process.versions.node}; ${process.platform})`,
      Accept: 'application/json',
    };
  }

  url(route: RouteName, opts: CallOptions = {}): { url: string; path: string } {
    const def = ROUTES[route];
    const path = fillPath(def.path, opts.params ?? {});
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v === undefined) continue;
      qs.set(k, Array.isArray(v) ? v.join(',') : String(v));
    }
    const q = qs.toString();
    return { path, url: `${this.baseUrl}${path}${q ? `?${q}` : ''}` };
  }

  /** Sends a request and returns the raw response (2xx only; anything else throws ApiError). */
  async send(route: RouteName, opts: CallOptions = {}): Promise<Response> {
    const def = ROUTES[route];
    const { url, path } = this.url(route, opts);
    const hasBody = opts.body !== undefined;
    this.opts.onRequest?.({ route, method: def.method, template: def.path, path, url, body: opts.body });
    const init: RequestInit = {
      method: def.method,
      headers: { ...this.headers, ...(hasBody ? { 'Content-Type': 'application/json' } : {}), ...opts.headers },
      body: hasBody ? JSON.stringify(opts.body) : undefined,
      signal: opts.signal,
    };
    const attempts = IDEMPOTENT.has(def.method) ? (this.opts.retries ?? 3) + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(url, init);
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        if (attempt < attempts) {
          await sleep(250 * 2 ** (attempt - 1));
          continue;
        }
        throw unreachable(def.method, url, this.baseUrl, e);
      }
      if (res.ok) return res;
      if (attempt < attempts && RETRY_STATUS.has(res.status)) {
        await res.body?.cancel();
        await sleep(250 * 2 ** (attempt - 1));
        continue;
      }
      throw await errorFrom(res, def.method, url);
    }
  }

  /** Sends a request and parses the JSON answer (undefined for an empty body). */
  async json<T = unknown>(route: RouteName, opts: CallOptions = {}): Promise<T> {
    const res = await this.send(route, opts);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * Streams a multipart/form-data body: file parts are read from their sources as the request goes
   * out, so a file of any size costs a few chunks of memory.
   */
  async upload<T = unknown>(route: RouteName, params: Record<string, string>, parts: MultipartPart[]): Promise<T> {
    const def = ROUTES[route];
    const { url, path } = this.url(route, { params });
    this.opts.onRequest?.({ route, method: def.method, template: def.path, path, url, multipart: parts.map((p) => p.name) });
    const boundary = newBoundary();
    // A source failing mid-stream (a file that vanished, a read error) must surface as itself,
    // not as the generic network failure fetch reports for an aborted body.
    let sourceError: unknown;
    const watched = parts.map((p): MultipartPart => {
      if ('value' in p) return p;
      return {
        ...p,
        source: () => {
          const src = p.source();
          if (src instanceof Uint8Array) return src;
          return (async function* () {
            try {
              yield* src;
            } catch (e) {
              sourceError = e;
              throw e;
            }
          })();
        },
      };
    });
    let res: Response;
    try {
      res = await fetch(url, {
        method: def.method,
        headers: { ...this.headers, 'Content-Type': `multipart/form-data; boundary=${boundary}` },
        body: multipartBody(boundary, watched),
        duplex: 'half',
      } as RequestInit);
    } catch (e) {
      if (sourceError) throw sourceError;
      throw unreachable(def.method, url, this.baseUrl, e);
    }
    if (!res.ok) throw await errorFrom(res, def.method, url);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

function unreachable(method: string, url: string, base: string, e: unknown): ApiError {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (e as Error).message;
  return new ApiError(0, 'UNREACHABLE', `cannot reach the API at ${base}: ${why}`, method, url);
}

async function errorFrom(res: Response, method: string, url: string): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  const b = (body && typeof body === 'object' ? body : {}) as { code?: string; message?: string };
  const message = b.message ?? (typeof body === 'string' && body ? body.slice(0, 500) : `${res.status} ${res.statusText}`);
  return new ApiError(res.status, isErrorCode(b.code) ? b.code : `HTTP_${res.status}`, message, method, url, body);
}
