import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { Api, Reply, TestServer } from './helpers.js';

/** Builds a gear archive (tar.gz) in memory: `manifest.json` plus extra files, optionally under one folder. */
export async function gearArchive(
  manifest: unknown,
  opts: { folder?: string; files?: Record<string, string>; manifestText?: string } = {},
): Promise<Buffer> {
  const pack = tar.pack();
  const prefix = opts.folder ? `${opts.folder}/` : '';
  if (opts.folder) pack.entry({ name: prefix, type: 'directory' });
  const entries: Record<string, string> = {
    'manifest.json': opts.manifestText ?? JSON.stringify(manifest, null, 2),
    run: '#!/bin/bash\necho hello\n',
    ...opts.files,
  };
  for (const [name, content] of Object.entries(entries)) pack.entry({ name: prefix + name, mode: name === 'run' ? 0o755 : 0o644 }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

export async function uploadArchive(api: Api, archive: Buffer, fields: Record<string, string> = {}): Promise<Reply> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([archive]), 'gear.tar.gz');
  const res = await fetch(`${api.base}/gears`, { method: 'POST', headers: api.headers(), body: form });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

let counter = 0;
/** A small valid manifest; `over` replaces top-level keys. */
export function manifest(over: Record<string, unknown> = {}): Record<string, any> {
  counter++;
  return {
    name: `test-gear-${counter}`,
    label: 'Test gear',
    description: 'A gear written for the tests.',
    version: '1.0.0',
    author: 'Sprocket tests',
    license: 'MIT',
    url: '',
    source: '',
    config: {},
    inputs: {},
    ...over,
  };
}

/** Uploads a gear and returns its id (throws on refusal). */
export async function addGear(api: Api, m: Record<string, unknown>, fields: Record<string, string> = {}): Promise<string> {
  const r = await uploadArchive(api, await gearArchive(m), fields);
  if (r.status !== 200) throw new Error(`gear upload failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body._id;
}

export function engineKeyOf(s: TestServer): string {
  return fs.readFileSync(path.join(s.dataDir, 'engine-api-key'), 'utf8').trim();
}

/** Drives the engine protocol over HTTP, as an engine would. */
export class EngineSim {
  constructor(
    readonly api: Api,
    readonly name = 'test-engine/1',
  ) {}

  async ask(
    opts: {
      capabilities?: string[];
      jobs?: number;
      wait?: number;
      whitelist?: Record<string, string[]>;
      blacklist?: Record<string, string[]>;
    } = {},
  ): Promise<any[]> {
    const r = await this.api.post('/jobs/ask', {
      capabilities: opts.capabilities ?? [],
      return: { jobs: opts.jobs ?? 1 },
      engine: this.name,
      ...(opts.wait !== undefined ? { wait: opts.wait } : {}),
      ...(opts.whitelist ? { whitelist: opts.whitelist } : {}),
      ...(opts.blacklist ? { blacklist: opts.blacklist } : {}),
    });
    if (r.status !== 200) throw new Error(`ask failed: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.jobs;
  }

  heartbeat(jobId: string, lines: { fd: number; msg: string }[] = []): Promise<Reply> {
    return this.api.request('POST', `/jobs/${jobId}/logs`, lines);
  }

  async prepare(jobId: string, success: boolean, extra: Record<string, unknown> = {}): Promise<string> {
    const r = await this.api.post(`/jobs/${jobId}/prepare-complete`, { success, ...extra });
    if (r.status !== 200) throw new Error(`prepare-complete failed: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.ticket;
  }

  async upload(job: any, ticket: string, files: { name: string; content: string }[], metadata?: unknown): Promise<Reply> {
    const form = new FormData();
    if (metadata !== undefined) form.append('metadata', JSON.stringify(metadata));
    for (const f of files) form.append('file', new Blob([f.content]), f.name);
    const res = await fetch(`${this.api.base}${job.request.outputs[0].uri}&job_ticket=${ticket}`, {
      method: 'POST',
      headers: this.api.headers(),
      body: form,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  }

  complete(jobId: string, success: boolean, extra: Record<string, unknown> = {}): Promise<Reply> {
    return this.api.post(`/jobs/${jobId}/complete`, { success, ...extra });
  }

  /** prepare-complete, upload, complete: the whole finishing sequence. */
  async finish(job: any, success: boolean, files: { name: string; content: string }[] = [], metadata?: unknown): Promise<Reply> {
    const ticket = await this.prepare(job.id, success);
    const up = await this.upload(job, ticket, files, metadata);
    if (up.status !== 200) throw new Error(`upload failed: ${up.status} ${JSON.stringify(up.body)}`);
    return this.complete(job.id, success);
  }
}

export function ok<T>(r: Reply<T>): T {
  if (r.status >= 300) throw new Error(`request failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}
