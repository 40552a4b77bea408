import { ApiError, HttpTransport } from '@sprocket/sdk/browser';

/**
 * The UI's one HTTP layer: the SDK's transport (the same client the CLI, engine and tests use)
 * against the same origin's /api, with the session cookie the browser holds (HttpOnly: script
 * never sees it) and the CSRF token the sign-in answered on every state-changing request. The
 * token lives in memory only, and a reload gets it back from GET /api/auth/session.
 */

let csrfToken: string | undefined;

export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** An error answer of the API (the SDK's): the catalogue's code and a message meant for people. */
export { ApiError };

export type Query = Record<string, string | number | boolean | undefined>;

const transport = new HttpTransport('/api', undefined, {
  credentials: 'same-origin',
  stateHeaders: () => (csrfToken ? { 'X-CSRF-Token': csrfToken } : undefined),
  // A page retries on its own (TanStack Query); a quick answer beats three backed-off attempts.
  retries: 1,
});

export async function request<T>(
  method: string,
  path: string,
  opts: { query?: Query; body?: unknown; signal?: AbortSignal; features?: string[] } = {},
): Promise<T> {
  const headers: Record<string, string> | undefined = opts.features?.length
    ? { 'X-Accept-Feature': ['Subject-Container', ...opts.features].join(',') }
    : undefined;
  try {
    return await transport.requestJson<T>(method, path, { query: opts.query, body: opts.body, signal: opts.signal, headers });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) onUnauthorized?.();
    throw e;
  }
}

/**
 * A reply taken as bytes (CSV and TSV exports, file downloads made from a POST): errors are read as
 * the API's JSON error, as `request` reads them.
 */
export async function fetchBlob(method: string, path: string, opts: { query?: Query; body?: unknown } = {}): Promise<Blob> {
  try {
    return await (await transport.request(method, path, { query: opts.query, body: opts.body })).blob();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) onUnauthorized?.();
    throw e;
  }
}

/** Set by the auth provider: a 401 anywhere means the session ended, so the app shows sign-in. */
let onUnauthorized: (() => void) | undefined;
export function whenUnauthorized(fn: (() => void) | undefined): void {
  onUnauthorized = fn;
}

/** How many rows a listing holds, without fetching them (the `pagination` envelope's total). */
export async function countOf(path: string, query?: Query): Promise<number> {
  const r = await request<{ total: number }>('GET', path, { query: { ...query, limit: 1 }, features: ['pagination'] });
  return r.total;
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>('GET', path, { query, signal }),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, { body: body ?? {} }),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, { body }),
  del: <T>(path: string) => request<T>('DELETE', path),
};

export function messageOf(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 0) return 'The server cannot be reached. Check your connection; the page retries on its own.';
    return e.message.charAt(0).toUpperCase() + e.message.slice(1);
  }
  return (e as Error)?.message ?? String(e);
}
