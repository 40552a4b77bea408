/** A bare JSON client for benchmarks: the fewest layers between the timer and the server. */
export type BenchApi = (method: string, path: string, body?: unknown) => Promise<any>;

export function benchApi(baseUrl: string, key: string): BenchApi {
  return async (method, p, body) => {
    const form = body instanceof FormData;
    const res = await fetch(baseUrl + p, {
      method,
      headers: { Authorization: `scitran-user ${key}`, ...(body !== undefined && !form ? { 'Content-Type': 'application/json' } : {}) },
      body: body === undefined ? undefined : form ? body : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
}
