import { HttpTransport } from '@sprocket/sdk';

/**
 * A JSON client for benchmarks, over the SDK's transport (the one HTTP client) with its retries
 * off, so a slow or failing call is timed and reported as it happened.
 */
export type BenchApi = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown) => Promise<any>;

export function benchApi(baseUrl: string, key: string): BenchApi {
  const http = new HttpTransport(baseUrl, key, { retries: 0, userAgent: 'Sprocket bench' });
  return (method, p, body) =>
    body instanceof FormData ? http.requestJson(method, p, { data: body }) : http.requestJson(method, p, { body });
}

/** The transport itself, for benchmarks that read status, headers or streams. */
export function benchTransport(baseUrl: string, key: string): HttpTransport {
  return new HttpTransport(baseUrl, key, { retries: 0, userAgent: 'Sprocket bench' });
}
