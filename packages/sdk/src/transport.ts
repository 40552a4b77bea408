import type { Readable } from 'node:stream';
import type { MultipartPart } from './multipart.js';
import type { RouteName } from './routes.js';

/**
 * The one HTTP client of Sprocket, as an interface: the SDK's objects, the CLI, the engine, the
 * benchmarks and the tests all send their requests through it. Only types live here, so any module
 * can depend on the interface without loading (or cycling back to) the implementation
 * (`http-transport.ts`). Every method turns a non-2xx answer or an unreachable server into an
 * `ApiError`.
 */
export interface Transport {
  /** `http://host:port/api` */
  readonly baseUrl: string;

  /** The URL of a route of the table (`routes.ts`), with its query. */
  url(route: RouteName, opts?: CallOptions): { url: string; path: string };

  /** A route of the table; the raw answer (status, headers, body to read or stream). */
  send(route: RouteName, opts?: CallOptions): Promise<Response>;

  /** A route of the table; its JSON answer (undefined for an empty body). */
  json<T = unknown>(route: RouteName, opts?: CallOptions): Promise<T>;

  /** A route of the table with a multipart body streamed from its sources; its JSON answer. */
  upload<T = unknown>(route: RouteName, params: Record<string, string>, parts: MultipartPart[]): Promise<T>;

  /**
   * A path outside the route table (engine protocol URIs the server hands out, subtree archives),
   * relative to `baseUrl`: bytes, a stream or a form in (`data`) or JSON (`body`); the raw answer out.
   */
  request(method: string, path: string, opts?: RawOptions): Promise<Response>;

  /** `request`, with its JSON answer parsed (undefined for an empty body). */
  requestJson<T = unknown>(method: string, path: string, opts?: RawOptions): Promise<T>;

  /** A download (a route of the table, or a path) as a Node stream, for content too large to hold. */
  stream(target: RouteName | { method: string; path: string }, opts?: RawOptions & Pick<CallOptions, 'params'>): Promise<Readable>;
}

export type QueryValue = string | number | boolean | readonly string[] | undefined;

export interface CallOptions {
  params?: Record<string, string | undefined>;
  query?: Record<string, QueryValue>;
  /** A JSON body. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Aborts the request, and a body still streaming. */
  signal?: AbortSignal;
  /** This call's retries on 429/502/503/504 or a dropped connection (idempotent methods only). */
  retries?: number;
}

export interface RawOptions extends Omit<CallOptions, 'params'> {
  /** A body sent as it is (bytes, a stream, a form), instead of JSON `body`. */
  data?: Uint8Array | string | FormData | AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>;
  /** Hand back every answer, refusals included, instead of throwing ApiError for non-2xx (tests check refusals). */
  anyStatus?: boolean;
}

/** What the client is about to send; `onRequest` observers see every request. */
export interface RequestRecord {
  /** The route of the table; undefined for a `request` outside it. */
  route?: RouteName;
  method: string;
  /** The route's path template, e.g. `/{cont}/{id}/files` (the path itself outside the table). */
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
  /** How many times idempotent requests are retried on 429/502/503/504 or a dropped connection (default 3). */
  retries?: number;
  /** Who is calling, for the `User-Agent` (default `Sprocket SDK/<version>`). */
  userAgent?: string;
  /** Headers on every request over the defaults; undefined drops a default (tests speak as a client without `X-Accept-Feature`). */
  headers?: Record<string, string | undefined>;
  /**
   * Headers for each state-changing request (anything but GET/HEAD/OPTIONS), asked for as it is
   * sent: a browser session adds its CSRF token this way, which can change on sign-in.
   */
  stateHeaders?: () => Record<string, string> | undefined;
  /** fetch's `credentials`: a browser sends its session cookie with `same-origin`. */
  credentials?: RequestInit['credentials'];
}
