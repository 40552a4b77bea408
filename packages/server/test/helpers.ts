import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { HttpTransport } from '@sprocket/sdk';
import { createDatabase } from '../../../test-fixtures/pg-databases.js';
import { sharedS3 } from '../../../test-fixtures/s3.js';
import { loadConfig } from '../src/config.js';
import { type RunningServer, startServer } from '../src/server.js';

/**
 * Starts a real server on a free loopback port with a fresh data directory. With
 * SPROCKET_TEST_DATABASE_URL=postgres://… each server gets its own new PostgreSQL database.
 */
export interface TestServer extends RunningServer {
  dataDir: string;
  storage: StorageBackend;
  /** Keys of the file content the store holds, whatever the backend. */
  blobs(): Promise<string[]>;
  /** What an interrupted write leaves for recovery: staged parts and markers (local), marker objects (S3). */
  pending(): Promise<string[]>;
  /** The directory on this machine whose files hold the content (s3rver's, for S3): open descriptors show reads. */
  contentDir: string;
  /** Deletes one blob's content behind the server's back (a lost blob). */
  removeBlob(key: string): Promise<void>;
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

/** The file stores the storage tests run on: the data directory, and S3 (s3rver on loopback, test-fixtures/s3.ts). */
export type StorageBackend = 'local' | 's3';
export const STORAGE_BACKENDS: StorageBackend[] = ['local', 's3'];

/** A restarted server (same data directory) finds its content under the same S3 prefix. */
const s3PrefixOf = new Map<string, string>();

/** What a server on `storage` needs in its environment, and how to look at what its store holds. */
export async function storageFor(storage: StorageBackend, dataDir: string) {
  if (storage === 'local') {
    const root = path.join(dataDir, 'files');
    const walk = (dir: string) =>
      fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, withFileTypes: true }).flatMap((e) => (e.isFile() ? [e.name] : [])) : [];
    const blobs = path.join(root, 'blobs');
    return {
      env: {} as Record<string, string>,
      blobs: async () => walk(blobs),
      pending: async () => walk(path.join(root, 'staging')),
      contentDir: blobs,
      removeBlob: async (key: string) => fs.rmSync(path.join(blobs, key.slice(-2), key.slice(-4, -2), key)),
    };
  }
  const s3 = await sharedS3();
  let prefix = s3PrefixOf.get(dataDir);
  if (!prefix) {
    prefix = `t-${path.basename(dataDir)}-${Math.random().toString(36).slice(2, 8)}`.toLowerCase();
    s3PrefixOf.set(dataDir, prefix);
  }
  const under = async (sub: string) => (await s3.list(`${prefix}/${sub}`)).map((k) => k.slice(`${prefix}/${sub}/`.length));
  return {
    env: s3.env(prefix),
    blobs: () => under('blobs'),
    pending: () => under('pending'),
    // s3rver keeps each object as a file under its directory, named after the key.
    contentDir: path.join(s3.directory, s3.bucket, prefix, 'blobs'),
    removeBlob: async (key: string) => {
      await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: `${prefix}/blobs/${key}` }));
    },
    /** Writes an object under the store's prefix behind the server's back (what a crash leaves). */
    put: async (key: string, content: string) => {
      await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}/${key}`, Body: Buffer.from(content) }));
    },
  };
}

export async function startTestServer(
  opts: { dataDir?: string; databaseUrl?: string; env?: Record<string, string>; storage?: StorageBackend } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-test-'));
  const databaseUrl = opts.databaseUrl ?? (await freshDatabaseUrl());
  // SPROCKET_TEST_STORAGE=s3 runs every suite's servers on S3; a restart keeps what its first start used.
  const storage = opts.storage ?? (s3PrefixOf.has(dataDir) ? 's3' : process.env.SPROCKET_TEST_STORAGE === 's3' ? 's3' : 'local');
  const store = await storageFor(storage, dataDir);
  const config = loadConfig({
    ...store.env,
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
    storage,
    blobs: store.blobs,
    pending: store.pending,
    contentDir: store.contentDir,
    removeBlob: store.removeBlob,
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
