import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HttpTransport } from '@sprocket/sdk';
import { createDatabase } from '../../../test-fixtures/pg-databases.js';
import { loadConfig } from '../src/config.js';
import { type RunningServer, startServer } from '../src/server.js';

/**
 * Starts a real server on a free loopback port with a fresh data directory. With
 * SPROCKET_TEST_DATABASE_URL=postgres://… each server gets its own new PostgreSQL database.
 */
export interface TestServer extends RunningServer {
  dataDir: string;
  as(key: string | undefined): Api;
  admin: Api;
  anon: Api;
  stop(): Promise<void>;
}

export async function freshDatabaseUrl(): Promise<string | undefined> {
  const base = process.env.SPROCKET_TEST_DATABASE_URL;
  if (!base?.startsWith('postgres')) return undefined;
  return createDatabase(base, 'sprocket_t');
}

export async function startTestServer(
  opts: { dataDir?: string; databaseUrl?: string; env?: Record<string, string> } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-test-'));
  const databaseUrl = opts.databaseUrl ?? (await freshDatabaseUrl());
  const config = loadConfig({
    ...opts.env,
    SPROCKET_DATA_DIR: dataDir,
    SPROCKET_PORT: '0',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  const server = await startServer(config);
  const adminKey = server.adminKey ?? fs.readFileSync(path.join(dataDir, 'admin-api-key'), 'utf8').trim();
  return {
    ...server,
    dataDir,
    as: (key) => new Api(server.url, key),
    admin: new Api(server.url, adminKey),
    anon: new Api(server.url, undefined),
    async stop() {
      await server.close();
    },
  };
}

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * A minimal JSON client for tests: every call returns status and parsed body, never throws on 4xx.
 * It sends through the SDK's transport (the one HTTP client) with exactly the headers below: no
 * retries, every status handed back, none of the SDK's own headers, so a test sees the server's
 * first answer to the request it wrote.
 */
export class Api {
  private readonly http: HttpTransport;

  constructor(
    readonly base: string,
    readonly key: string | undefined,
    readonly extraHeaders: Record<string, string> = { 'X-Accept-Feature': 'Subject-Container,Safe-Redirect' },
  ) {
    this.http = new HttpTransport(base, key, { retries: 0, headers: { 'X-Accept-Feature': undefined, Accept: undefined } });
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...this.extraHeaders, ...(this.key ? { Authorization: `scitran-user ${this.key}` } : {}), ...extra };
  }

  async request<T = any>(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
    const res = await this.http.request(method, p, {
      headers: this.headers(body !== undefined ? { 'Content-Type': 'application/json', ...headers } : headers),
      ...(typeof body === 'string' ? { data: body } : { body }),
      anyStatus: true,
    });
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get = <T = any>(p: string, headers?: Record<string, string>) => this.request<T>('GET', p, undefined, headers);
  post = <T = any>(p: string, body?: unknown) => this.request<T>('POST', p, body ?? {});
  put = <T = any>(p: string, body: unknown) => this.request<T>('PUT', p, body);
  del = <T = any>(p: string) => this.request<T>('DELETE', p);

  async upload(p: string, files: { name: string; content: Blob | string }[], metadata?: unknown): Promise<Reply> {
    const form = new FormData();
    if (metadata !== undefined) form.append('metadata', JSON.stringify(metadata));
    for (const f of files) form.append('file', typeof f.content === 'string' ? new Blob([f.content]) : f.content, f.name);
    const res = await this.http.request('POST', p, { headers: this.headers(), data: form, anyStatus: true });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  }

  async bytes(p: string, headers: Record<string, string> = {}): Promise<{ status: number; data: Buffer; headers: Headers }> {
    const res = await this.http.request('GET', p, { headers: this.headers(headers), anyStatus: true });
    return { status: res.status, data: Buffer.from(await res.arrayBuffer()), headers: res.headers };
  }
}

/** Creates group → project → subject → session → acquisition and returns their ids. */
export async function makeHierarchy(api: Api, group = `g${Math.random().toString(36).slice(2, 8)}`) {
  const ok = <T>(r: Reply<T>) => {
    if (r.status >= 300) throw new Error(`setup request failed: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  ok(await api.post('/groups', { _id: group, label: group }));
  const project = ok(await api.post('/projects', { group, label: 'Project' }))._id as string;
  const subject = ok(await api.post('/subjects', { project, label: 'sub-01' }))._id as string;
  const session = ok(await api.post('/sessions', { project, subject: { _id: subject }, label: 'ses-01' }))._id as string;
  const acquisition = ok(await api.post('/acquisitions', { session, label: 'T1w' }))._id as string;
  return { group, project, subject, session, acquisition };
}
