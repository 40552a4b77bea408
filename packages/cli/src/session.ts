import { ApiError, Client, parseApiKey, readStoredKey } from '@sprocket/sdk';
import { isErrorCode } from '@sprocket/types';
import { CliError } from './errors.js';

/**
 * Who the CLI talks to and as whom: `SPROCKET_API_KEY` when set (scripts, CI), else the key
 * `sprocket login` stored. The compound key names the server.
 */
export interface Session {
  client: Client;
  key: string;
  /** `http://host:port/api` */
  baseUrl: string;
  raw: RawApi;
}

export function currentKey(): string | undefined {
  const fromEnv = process.env.SPROCKET_API_KEY?.trim();
  if (fromEnv) return fromEnv;
  try {
    return readStoredKey();
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

export function sessionFor(key: string): Session {
  let baseUrl: string;
  let secret: string;
  try {
    ({ baseUrl, secret } = parseApiKey(key));
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  return { client: new Client(key), key, baseUrl, raw: new RawApi(baseUrl, secret) };
}

export function openSession(): Session {
  const key = currentKey();
  if (!key) throw new CliError("not logged in: run 'sprocket login <key>' first (or set SPROCKET_API_KEY)");
  return sessionFor(key);
}

/**
 * Requests for the few routes the SDK's route table does not carry (subtree archives, ranged file
 * reads, data views, rule evaluation). Same credentials and the same ApiError as the SDK.
 */
export class RawApi {
  private readonly headers: Record<string, string>;

  constructor(
    readonly baseUrl: string,
    secret: string,
  ) {
    this.headers = { Authorization: `scitran-user ${secret}`, 'X-Accept-Feature': 'Subject-Container', 'User-Agent': 'sprocket-cli' };
  }

  url(path: string, query: Record<string, string | number | boolean | undefined> = {}): string {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
    const q = qs.toString();
    return `${this.baseUrl}${path}${q ? `?${q}` : ''}`;
  }

  /** Sends a request; anything but 2xx (206 included as success) becomes an ApiError. */
  async send(method: string, path: string, opts: { query?: Record<string, string | number | boolean | undefined>; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
    const url = this.url(path, opts.query);
    const hasBody = opts.body !== undefined;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { ...this.headers, ...(hasBody ? { 'Content-Type': 'application/json' } : {}), ...opts.headers },
        body: hasBody ? JSON.stringify(opts.body) : undefined,
        signal: opts.signal,
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new ApiError(0, 'UNREACHABLE', `cannot reach the API at ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (e as Error).message}`, method, url);
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    let body: { code?: string; message?: string } | undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    throw new ApiError(res.status, isErrorCode(body?.code) ? body.code : `HTTP_${res.status}`, body?.message ?? (text.slice(0, 300) || `${res.status} ${res.statusText}`), method, url, body ?? text);
  }

  async json<T>(method: string, path: string, opts: Parameters<RawApi['send']>[2] = {}): Promise<T> {
    const text = await (await this.send(method, path, opts)).text();
    return (text ? JSON.parse(text) : undefined) as T;
  }
}
