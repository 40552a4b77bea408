import type { ErrorBody } from '@sprocket/types';

/**
 * The UI's one HTTP layer: `fetch` against the same origin's /api, with the session cookie the
 * browser holds (HttpOnly: script never sees it) and the CSRF token the sign-in answered on every
 * state-changing request. The token lives in memory only, and a reload gets it back from
 * GET /api/auth/session.
 */

let csrfToken: string | undefined;

export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** An error answer of the API, with the catalogue's code and a message meant for people. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

function url(path: string, query?: Query): string {
  const u = new URL(`/api${path}`, window.location.origin);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
  return u.pathname + u.search;
}

export async function request<T>(
  method: string,
  path: string,
  opts: { query?: Query; body?: unknown; signal?: AbortSignal; features?: string[] } = {},
): Promise<T> {
  const headers: Record<string, string> = {
    Accept: 'application/json',
    'X-Accept-Feature': ['Subject-Container', ...(opts.features ?? [])].join(','),
  };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(url(path, opts.query), {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      credentials: 'same-origin',
      signal: opts.signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK', 'The server cannot be reached. Check your connection; the page retries on its own.');
  }
  const text = await res.text();
  const json = text && (res.headers.get('content-type') ?? '').includes('json') ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const err = json as Partial<ErrorBody> | undefined;
    if (res.status === 401) onUnauthorized?.();
    throw new ApiError(res.status, err?.code ?? 'HTTP', err?.message ?? `The server answered ${res.status} ${res.statusText}`);
  }
  return json as T;
}

/**
 * A reply taken as bytes (CSV and TSV exports, file downloads made from a POST): errors are read as
 * the API's JSON error, as `request` reads them.
 */
export async function fetchBlob(method: string, path: string, opts: { query?: Query; body?: unknown } = {}): Promise<Blob> {
  const headers: Record<string, string> = { 'X-Accept-Feature': 'Subject-Container' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const res = await fetch(url(path, opts.query), {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    credentials: 'same-origin',
  });
  if (!res.ok) {
    const err = (await res.json().catch(() => undefined)) as Partial<ErrorBody> | undefined;
    throw new ApiError(res.status, err?.code ?? 'HTTP', err?.message ?? `The server answered ${res.status} ${res.statusText}`);
  }
  return res.blob();
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
  if (e instanceof ApiError) return e.message.charAt(0).toUpperCase() + e.message.slice(1);
  return (e as Error)?.message ?? String(e);
}
