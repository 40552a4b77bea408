import type { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { isErrorCode, SPROCKET_VERSION } from '@sprocket/types';
import { ApiError } from './errors.js';
import { type MultipartPart, multipartBody, newBoundary } from './multipart.js';
import { fillPath, ROUTES, type RouteName } from './routes.js';
import type { CallOptions, QueryValue, RawOptions, Transport, TransportOptions } from './transport.js';

const RETRY_STATUS = new Set([429, 502, 503, 504]);
const IDEMPOTENT = new Set(['GET', 'PUT', 'DELETE']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One request, ready for `fetch`, after the route or path has been resolved. */
interface Outgoing {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: RequestInit['body'] | AsyncIterable<Uint8Array>;
  signal?: AbortSignal;
  retries: number;
  anyStatus?: boolean;
}

/** `Node 20.19; linux` under Node; undefined in a browser, which sends its own User-Agent. */
function runtime(): string | undefined {
  const proc = (globalThis as { process?: { versions?: { node?: string }; platform?: string } }).process;
  return proc?.versions?.node ? `Node ${proc.versions.node}; ${proc.platform}` : undefined;
}

/** What a state-changing method is: the ones CSRF protection guards. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The Transport over `fetch`: the key's credentials and Flywheel's SDK headers on every request
 * (the server's sdk-wire test pins them), retries of idempotent requests on a busy or restarting
 * server, failures as ApiError. Bundles for a browser too (the web UI runs on it): Node's streams
 * are loaded only by `stream()`, the one method that hands out a Node stream.
 */
export class HttpTransport implements Transport {
  private readonly headers: Record<string, string>;

  constructor(
    readonly baseUrl: string,
    /** The key's secret; undefined sends no credentials (anonymous requests). */
    secret: string | undefined,
    private readonly opts: TransportOptions = {},
  ) {
    this.headers = {
      ...(secret !== undefined ? { Authorization: `scitran-user ${secret}` } : {}),
      'X-Accept-Feature': ['Subject-Container', ...(opts.features ?? [])].join(','),
      Accept: 'application/json',
    };
    const rt = runtime();
    if (rt) this.headers['User-Agent'] = `${opts.userAgent ?? `Sprocket SDK/${SPROCKET_VERSION}`} (${rt})`;
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (v === undefined) delete this.headers[k];
      else this.headers[k] = v;
    }
  }

  url(route: RouteName, opts: CallOptions = {}): { url: string; path: string } {
    const path = fillPath(ROUTES[route].path, opts.params ?? {});
    return { path, url: this.pathUrl(path, opts.query) };
  }

  send(route: RouteName, opts: CallOptions = {}): Promise<Response> {
    const def = ROUTES[route];
    const { url, path } = this.url(route, opts);
    this.opts.onRequest?.({ route, method: def.method, template: def.path, path, url, body: opts.body });
    return this.fetch(this.outgoing(def.method, url, opts));
  }

  async json<T = unknown>(route: RouteName, opts: CallOptions = {}): Promise<T> {
    return parseJson<T>(await this.send(route, opts));
  }

  request(method: string, path: string, opts: RawOptions = {}): Promise<Response> {
    const url = this.pathUrl(path, opts.query);
    this.opts.onRequest?.({ method, template: path.split('?')[0]!, path, url, body: opts.body });
    return this.fetch(this.outgoing(method, url, opts));
  }

  async requestJson<T = unknown>(method: string, path: string, opts: RawOptions = {}): Promise<T> {
    return parseJson<T>(await this.request(method, path, opts));
  }

  async stream(
    target: RouteName | { method: string; path: string },
    opts: RawOptions & Pick<CallOptions, 'params'> = {},
  ): Promise<Readable> {
    const res = typeof target === 'string' ? await this.send(target, opts) : await this.request(target.method, target.path, opts);
    // Looked up at run time, not imported: a browser bundle of this module must not pull in Node's streams.
    const { Readable } = globalThis.process.getBuiltinModule('node:stream');
    return res.body ? Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>) : Readable.from([]);
  }

  /**
   * Streams a multipart/form-data body: file parts are read from their sources as the request goes
   * out, so a file of any size costs a few chunks of memory. Never retried: the sources are read once.
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
    const out: Outgoing = {
      method: def.method,
      url,
      headers: { ...this.headers, ...this.stateHeaders(def.method), 'Content-Type': `multipart/form-data; boundary=${boundary}` },
      body: multipartBody(boundary, watched),
      retries: 0,
    };
    try {
      return parseJson<T>(await this.fetch(out));
    } catch (e) {
      if (sourceError) throw sourceError;
      throw e;
    }
  }

  /** The `stateHeaders` hook's headers for a POST/PUT/DELETE… (a browser session's CSRF token). */
  private stateHeaders(method: string): Record<string, string> | undefined {
    return SAFE_METHODS.has(method.toUpperCase()) ? undefined : this.opts.stateHeaders?.();
  }

  private pathUrl(path: string, query: Record<string, QueryValue> = {}): string {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue;
      qs.set(k, Array.isArray(v) ? v.join(',') : String(v));
    }
    const q = qs.toString();
    return `${this.baseUrl}${path}${q ? `${path.includes('?') ? '&' : '?'}${q}` : ''}`;
  }

  private outgoing(method: string, url: string, opts: RawOptions): Outgoing {
    const json = opts.body !== undefined && opts.data === undefined;
    const data = opts.data;
    // Bytes and strings can be sent again; a stream or a form is read once, so it is never retried.
    const resendable = data === undefined || typeof data === 'string' || data instanceof Uint8Array;
    return {
      method,
      url,
      headers: {
        ...this.headers,
        ...this.stateHeaders(method),
        ...(json ? { 'Content-Type': 'application/json' } : {}),
        ...opts.headers,
      },
      // DOM's BodyInit wants ArrayBuffer-backed bytes where Node's takes any Uint8Array; fetch sends both.
      body: json ? JSON.stringify(opts.body) : (data as Outgoing['body']),
      signal: opts.signal,
      anyStatus: opts.anyStatus,
      retries: IDEMPOTENT.has(method) && resendable ? (opts.retries ?? this.opts.retries ?? 3) : 0,
    };
  }

  /** Sends one request, retrying as `out.retries` allows; 2xx answers only, anything else throws. */
  private async fetch(out: Outgoing): Promise<Response> {
    const streamed =
      out.body != null && typeof out.body === 'object' && (Symbol.asyncIterator in out.body || out.body instanceof ReadableStream);
    const init = {
      method: out.method,
      headers: out.headers,
      body: out.body,
      signal: out.signal,
      ...(this.opts.credentials ? { credentials: this.opts.credentials } : {}),
      // fetch needs `duplex` to send a body it reads as it goes.
      ...(streamed ? { duplex: 'half' } : {}),
    } as RequestInit;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(out.url, init);
      } catch (e) {
        if (out.signal?.aborted) throw e;
        if (attempt <= out.retries) {
          await sleep(250 * 2 ** (attempt - 1));
          continue;
        }
        throw unreachable(out.method, out.url, this.baseUrl, e);
      }
      if (res.ok) return res;
      if (attempt <= out.retries && RETRY_STATUS.has(res.status)) {
        await res.body?.cancel();
        await sleep(250 * 2 ** (attempt - 1));
        continue;
      }
      if (out.anyStatus) return res;
      throw await errorFrom(res, out.method, out.url);
    }
  }
}

async function parseJson<T>(res: Response): Promise<T> {
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

function unreachable(method: string, url: string, base: string, e: unknown): ApiError {
  // fetch's TypeError says only "fetch failed"; the socket's error (ECONNREFUSED …) is its cause.
  const cause = (e as { cause?: unknown }).cause ?? e;
  const c = cause as { code?: string; message?: string };
  const why = c?.code ?? c?.message ?? (e as Error).message;
  const err = new ApiError(0, 'UNREACHABLE', `cannot reach the API at ${base}: ${why}`, method, url);
  Object.defineProperty(err, 'cause', { value: cause, enumerable: false, writable: true, configurable: true });
  return err;
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
