import { createHash } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ticketSecret } from '../src/dao/settings.js';
import { signTicket } from '../src/files/tickets.js';
import { type Api, makeHierarchy, STORAGE_BACKENDS, startTestServer, type TestServer } from './helpers.js';

let s: TestServer;
let api: Api;

const sha384 = (b: Buffer | string) => `v0-sha384-${createHash('sha384').update(b).digest('hex')}`;

/** Deterministic pseudo-random bytes, so content differs per file and version. */
function bytesOf(seed: string, n: number): Buffer {
  const out = Buffer.alloc(n);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < n; i += block.length) {
    block.copy(out, i, 0, Math.min(block.length, n - i));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** Sends a request byte-for-byte as given: fetch would normalise `..` and reject control characters. */
function raw(method: string, urlPath: string, opts: { key?: string; body?: Buffer; headers?: Record<string, string> } = {}) {
  const base = new URL(s.url);
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        method,
        path: `/api${urlPath}`,
        headers: { ...(opts.key ? { Authorization: `scitran-user ${opts.key}` } : {}), ...(opts.headers ?? {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A multipart body with the filename written verbatim into the part header. */
/** `filename: undefined` leaves the parameter out: a file part (it has a Content-Type) with no name. */
function multipart(parts: { filename: string | undefined; content: string }[]): { body: Buffer; contentType: string } {
  const boundary = `----sprocket${Math.random().toString(16).slice(2)}`;
  const chunks = parts.map(
    (p) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="file"${p.filename === undefined ? '' : `; filename="${p.filename}"`}\r\nContent-Type: application/octet-stream\r\n\r\n${p.content}\r\n`,
  );
  return { body: Buffer.from(`${chunks.join('')}--${boundary}--\r\n`, 'latin1'), contentType: `multipart/form-data; boundary=${boundary}` };
}

const adminKey = () => (api as unknown as { key: string }).key;

describe.each(STORAGE_BACKENDS)('file upload and download (%s storage)', (storage) => {
  beforeAll(async () => {
    s = await startTestServer({ storage });
    api = s.admin;
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('round-trips several files in one request with hashes, types, mimetypes, sizes and origin', async () => {
    const h = await makeHierarchy(api);
    const self = (await api.get('/users/self')).body;
    const files = [
      { name: 'scan.dicom.zip', content: bytesOf('dicom', 70_000), type: 'dicom', mimetype: 'application/zip' },
      { name: 'T1w.nii.gz', content: bytesOf('nifti', 1_500_000), type: 'nifti', mimetype: 'application/gzip' },
      { name: 'report.qa.json', content: Buffer.from('{"snr": 12.5}'), type: 'qa', mimetype: 'application/json' },
      { name: 'plain.json', content: Buffer.from('{}'), type: 'source code', mimetype: 'application/json' },
      { name: 'notes.TXT', content: Buffer.from('hello\n'), type: 'text', mimetype: 'text/plain' },
      { name: 'mystery.xyz', content: bytesOf('x', 10), type: null, mimetype: 'application/octet-stream' },
      { name: 'empty.dat', content: Buffer.alloc(0), type: null, mimetype: 'application/octet-stream' },
      { name: 'ünïcode name (1).csv', content: Buffer.from('a,b\n1,2\n'), type: 'tabular data', mimetype: 'text/csv' },
    ];
    const up = await api.upload(
      `/acquisitions/${h.acquisition}/files`,
      files.map((f) => ({ name: f.name, content: new Blob([f.content]) })),
    );
    expect(up.status).toBe(200);
    expect(up.body).toHaveLength(files.length);

    const acq = (await api.get(`/acquisitions/${h.acquisition}`)).body;
    for (const f of files) {
      const entry = acq.files.find((e: any) => e.name === f.name);
      expect(entry, f.name).toMatchObject({
        name: f.name,
        type: f.type,
        mimetype: f.mimetype,
        size: f.content.length,
        hash: sha384(f.content),
        version: 1,
        origin: { type: 'user', id: self._id },
      });
      const down = await api.bytes(`/acquisitions/${h.acquisition}/files/${encodeURIComponent(f.name)}`);
      expect(down.status, f.name).toBe(200);
      expect(down.data.equals(f.content), f.name).toBe(true);
      expect(down.headers.get('content-length')).toBe(String(f.content.length));
      expect(down.headers.get('accept-ranges')).toBe('bytes');
    }
    // The returned entries are the same documents the container shows.
    expect(up.body.map((e: any) => e.hash).sort()).toEqual(files.map((f) => sha384(f.content)).sort());
  });

  it('applies the metadata form field, as one set of fields or per file', async () => {
    const h = await makeHierarchy(api);
    const meta = { type: 'dicom', modality: 'MR', classification: { Intent: ['Structural'] }, info: { a: { b: 1 } }, tags: ['raw'] };
    const one = await api.upload(`/sessions/${h.session}/files`, [{ name: 'a.bin', content: 'A' }], meta);
    expect(one.status).toBe(200);
    const info = (await api.get(`/sessions/${h.session}/files/a.bin/info`)).body;
    expect(info).toMatchObject({ ...meta, name: 'a.bin', info: { a: { b: 1 } } });

    const perFile = {
      files: [
        { name: 'x.nii.gz', modality: 'CT', tags: ['one'] },
        { name: 'y.txt', type: 'log', info: { from: 'y' } },
      ],
    };
    const two = await api.upload(
      `/sessions/${h.session}/files`,
      [
        { name: 'x.nii.gz', content: 'X' },
        { name: 'y.txt', content: 'Y' },
      ],
      perFile,
    );
    expect(two.status).toBe(200);
    expect((await api.get(`/sessions/${h.session}/files/x.nii.gz/info`)).body).toMatchObject({
      type: 'nifti',
      modality: 'CT',
      tags: ['one'],
      info: {},
    });
    expect((await api.get(`/sessions/${h.session}/files/y.txt/info`)).body).toMatchObject({
      type: 'log',
      modality: null,
      tags: [],
      info: { from: 'y' },
    });

    const bad = await api.upload(`/sessions/${h.session}/files`, [{ name: 'z.txt', content: 'Z' }], 'not json' as unknown);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/metadata/);
    // Fields of the wrong shape are refused by name, as PUT …/files/{name} refuses them, not stored or a 500.
    const wrongShape: [unknown, RegExp][] = [
      [{ type: 5 }, /'metadata': type must be string or null/],
      [{ modality: [] }, /'metadata': modality must be string or null/],
      [{ tags: [1] }, /'metadata': tags\[0\] must be string/],
      [{ classification: { Intent: 'T1' } }, /'metadata': classification\.Intent must be array/],
      [{ info: 'x' }, /'metadata': info must be object/],
      [{ files: [{ name: 'z.txt', type: {} }] }, /'metadata': files\[0\]\.type must be string or null/],
      [{ files: 'z.txt' }, /'metadata': files must be an array/],
    ];
    for (const [metadata, msg] of wrongShape) {
      const r = await api.upload(`/sessions/${h.session}/files`, [{ name: 'z.txt', content: 'Z' }], metadata);
      expect(r.status, JSON.stringify(metadata)).toBe(400);
      expect(r.body.message, JSON.stringify(metadata)).toMatch(msg);
    }
    const noFile = await fetch(`${s.url}/sessions/${h.session}/files`, { method: 'POST', headers: api.headers(), body: new FormData() });
    expect(noFile.status).toBe(400);
    expect((await api.post(`/sessions/${h.session}/files`, { not: 'multipart' })).status).toBe(415);
    expect((await api.get(`/sessions/${h.session}`)).body.files.map((f: any) => f.name).sort()).toEqual(['a.bin', 'x.nii.gz', 'y.txt']);
  });

  it('keeps earlier versions on re-upload, readable by number and listed', async () => {
    const h = await makeHierarchy(api);
    const url = `/acquisitions/${h.acquisition}/files/data.nii.gz`;
    const v1 = bytesOf('v1', 5000);
    const v2 = bytesOf('v2', 7000);
    const v3 = bytesOf('v3', 100);
    const first = (
      await api.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'data.nii.gz', content: new Blob([v1]) }], { info: { run: 1 } })
    ).body[0];
    const second = (await api.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'data.nii.gz', content: new Blob([v2]) }])).body[0];
    expect(second).toMatchObject({ version: 2, file_id: first.file_id, _id: first._id, hash: sha384(v2) });

    expect((await api.bytes(url)).data.equals(v2)).toBe(true);
    expect((await api.bytes(`${url}?version=1`)).data.equals(v1)).toBe(true);
    expect((await api.bytes(`${url}?version=2`)).data.equals(v2)).toBe(true);
    expect((await api.bytes(`${url}?version=3`)).status).toBe(404);
    expect((await api.bytes(`${url}?version=0`)).status).toBe(400);

    await api.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'data.nii.gz', content: new Blob([v3]) }]);
    const versions = (await api.get(`${url}/versions`)).body;
    expect(versions.map((v: any) => [v.version, v.size, v.hash])).toEqual([
      [1, v1.length, sha384(v1)],
      [2, v2.length, sha384(v2)],
      [3, v3.length, sha384(v3)],
    ]);
    expect(versions[0].replaced).toBeTruthy();
    expect(versions[2].replaced).toBeNull();
    // The container lists one entry per name: the current version.
    const listed = (await api.get(`/acquisitions/${h.acquisition}`)).body.files;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ version: 3, size: v3.length });
    expect((await api.bytes(`${url}?version=1`)).data.equals(v1)).toBe(true);
  });

  it('uploads analysis outputs directly and through the parent path', async () => {
    const h = await makeHierarchy(api);
    const analysis = (await api.post(`/sessions/${h.session}/analyses`, { label: 'run' })).body._id;
    const direct = await api.upload(`/analyses/${analysis}/files`, [{ name: 'out.nii.gz', content: 'direct' }]);
    expect(direct.status).toBe(200);
    const viaParent = await api.upload(`/sessions/${h.session}/analyses/${analysis}/files`, [{ name: 'log.txt', content: 'via parent' }]);
    expect(viaParent.status).toBe(200);
    expect(viaParent.body[0]).toMatchObject({ name: 'log.txt', type: 'text', parent_ref: { type: 'analysis', id: analysis } });
    expect((await api.bytes(`/analyses/${analysis}/files/out.nii.gz`)).data.toString()).toBe('direct');
    expect((await api.bytes(`/analyses/${analysis}/files/log.txt`)).data.toString()).toBe('via parent');
    // The analysis must hang under the container the path names.
    const wrong = await api.upload(`/acquisitions/${h.acquisition}/analyses/${analysis}/files`, [{ name: 'x.txt', content: 'x' }]);
    expect(wrong.status).toBe(404);
    expect((await api.get(`/analyses/${analysis}`)).body.files.map((f: any) => f.name).sort()).toEqual(['log.txt', 'out.nii.gz']);
  });

  it('gives concurrent uploads of one name distinct versions, exactly one current', async () => {
    const h = await makeHierarchy(api);
    const contents = Array.from({ length: 8 }, (_, i) => bytesOf(`c${i}`, 20_000 + i));
    const replies = await Promise.all(
      contents.map((c) => api.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'race.bin', content: new Blob([c]) }])),
    );
    expect(replies.map((r) => r.status)).toEqual(contents.map(() => 200));
    const versions = (await api.get(`/acquisitions/${h.acquisition}/files/race.bin/versions`)).body as any[];
    expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(new Set(versions.map((v) => v.file_id)).size).toBe(1);
    expect(versions.filter((v) => v.replaced === null)).toHaveLength(1);
    for (const v of versions) {
      const i = contents.findIndex((c) => sha384(c) === v.hash);
      expect(i).toBeGreaterThanOrEqual(0);
      expect((await api.bytes(`/acquisitions/${h.acquisition}/files/race.bin?version=${v.version}`)).data.equals(contents[i]!)).toBe(true);
    }
    const listed = (await api.get(`/acquisitions/${h.acquisition}`)).body.files;
    expect(listed).toHaveLength(1);
    expect(listed[0].version).toBe(8);
  });

  it('serves byte ranges: explicit, open-ended and suffix; 416 outside the file', async () => {
    const h = await makeHierarchy(api);
    const content = bytesOf('range', 10_000);
    await api.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'r.bin', content: new Blob([content]) }]);
    const url = `/acquisitions/${h.acquisition}/files/r.bin`;

    const cases: [string, number, number][] = [
      ['bytes=0-99', 0, 99],
      ['bytes=100-100', 100, 100],
      ['bytes=9000-', 9000, 9999],
      ['bytes=-500', 9500, 9999],
      ['bytes=-20000', 0, 9999],
      ['bytes=9990-20000', 9990, 9999],
    ];
    for (const [range, start, end] of cases) {
      const r = await api.bytes(url, { Range: range });
      expect(r.status, range).toBe(206);
      expect(r.headers.get('content-range'), range).toBe(`bytes ${start}-${end}/10000`);
      expect(r.headers.get('content-length'), range).toBe(String(end - start + 1));
      expect(r.data.equals(content.subarray(start, end + 1)), range).toBe(true);
    }
    for (const range of ['bytes=10000-', 'bytes=20000-20010', 'bytes=500-100', 'bytes=-0']) {
      const r = await api.bytes(url, { Range: range });
      expect(r.status, range).toBe(416);
      expect(r.headers.get('content-range'), range).toBe('bytes */10000');
      expect(JSON.parse(r.data.toString()).message, range).toMatch(/range/i);
    }
    // Other units and multi-range requests are ignored: the whole file, as HTTP allows.
    for (const range of ['items=0-5', 'bytes=0-1,5-6']) {
      const r = await api.bytes(url, { Range: range });
      expect(r.status, range).toBe(200);
      expect(r.data.equals(content), range).toBe(true);
    }
    const malformed = await api.bytes(url, { Range: 'bytes=abc' });
    expect(malformed.status).toBe(416);
    expect(JSON.parse(malformed.data.toString()).message).toMatch(/Range/);
    const head = await fetch(s.url + url, { method: 'HEAD', headers: api.headers() });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('10000');
    expect(head.headers.get('etag')).toBe(`"${sha384(content).slice('v0-sha384-'.length)}"`);
    // Ranges also apply to an earlier version.
    await api.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'r.bin', content: 'short' }]);
    const old = await api.bytes(`${url}?version=1`, { Range: 'bytes=-10' });
    expect(old.status).toBe(206);
    expect(old.data.equals(content.subarray(9990))).toBe(true);
  });

  it('issues download tickets that work without a key; bad tickets are refused', async () => {
    const h = await makeHierarchy(api);
    const content = bytesOf('ticket', 3000);
    await api.upload(`/projects/${h.project}/files`, [{ name: 'p.bin', content: new Blob([content]) }]);
    const url = `/projects/${h.project}/files/p.bin`;

    const t = await api.get(`${url}?ticket=`);
    expect(t.status).toBe(200);
    expect(typeof t.body.ticket).toBe('string');
    expect((await s.anon.bytes(url)).status).toBe(401);
    const anon = await s.anon.bytes(`${url}?ticket=${encodeURIComponent(t.body.ticket)}`);
    expect(anon.status).toBe(200);
    expect(anon.data.equals(content)).toBe(true);
    const ranged = await s.anon.bytes(`${url}?ticket=${encodeURIComponent(t.body.ticket)}`, { Range: 'bytes=0-9' });
    expect(ranged.status).toBe(206);
    expect(ranged.data.equals(content.subarray(0, 10))).toBe(true);

    const [payload, mac] = t.body.ticket.split('.');
    for (const bad of [
      'nonsense',
      `${payload}.${'A'.repeat(mac.length)}`,
      `${Buffer.from('{"target":"f:x","exp":9999999999}').toString('base64url')}.${mac}`,
    ]) {
      const r = await s.anon.get(`${url}?ticket=${encodeURIComponent(bad)}`);
      expect(r.status, bad).toBe(401);
      expect(r.body.message).toMatch(/ticket/);
    }
    // A ticket names one file: it opens no other name.
    await api.upload(`/projects/${h.project}/files`, [{ name: 'other.bin', content: 'o' }]);
    expect((await s.anon.get(`/projects/${h.project}/files/other.bin?ticket=${encodeURIComponent(t.body.ticket)}`)).status).toBe(401);
    // A ticket requested for an earlier version serves that version.
    await api.upload(`/projects/${h.project}/files`, [{ name: 'p.bin', content: 'new' }]);
    const t1 = (await api.get(`${url}?version=1&ticket=`)).body.ticket;
    expect((await s.anon.bytes(`${url}?ticket=${encodeURIComponent(t1)}`)).data.equals(content)).toBe(true);
    // Without access there is no ticket either.
    expect((await s.anon.get(`${url}?ticket=`)).status).toBe(401);
    // A genuine ticket past its lifetime is refused.
    const row = await s.ctx.handle.db
      .selectFrom('files')
      .select('id')
      .where('container_id', '=', h.project)
      .where('name', '=', 'p.bin')
      .where('current', '=', 1)
      .executeTakeFirstOrThrow();
    const secret = await ticketSecret(s.ctx.handle.db);
    // Tickets name the key that asked for them (security-keys.test.ts).
    const key = JSON.parse(Buffer.from(payload, 'base64url').toString()).key;
    expect((await s.anon.bytes(`${url}?ticket=${encodeURIComponent(signTicket(secret, `f:${row.id}`, 30, key))}`)).status).toBe(200);
    expect((await s.anon.get(`${url}?ticket=${encodeURIComponent(signTicket(secret, `f:${row.id}`, -1, key))}`)).status).toBe(401);
  });

  it('modifies info, classification and fields', async () => {
    const h = await makeHierarchy(api);
    await api.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'meta.bin', content: 'dicom' }]);
    const url = `/acquisitions/${h.acquisition}/files/meta.bin`;
    const info = async () => (await api.get(`${url}/info`)).body;

    expect((await api.post(`${url}/info`, { set: { a: 1, deep: { x: 1, y: 2 } } })).status).toBe(200);
    expect((await api.post(`${url}/info`, { delete: ['deep.x'] })).status).toBe(200);
    expect((await info()).info).toEqual({ a: 1, deep: { y: 2 } });
    expect((await api.post(`${url}/info`, { replace: { only: true } })).status).toBe(200);
    expect((await info()).info).toEqual({ only: true });
    expect((await api.get(`/acquisitions/${h.acquisition}`)).body.files[0].info_exists).toBe(true);

    expect((await api.post(`${url}/classification`, { add: { Intent: ['Structural'], Measurement: ['T1'] } })).status).toBe(200);
    expect((await api.post(`${url}/classification`, { add: { Measurement: ['T2', 'T1'] } })).status).toBe(200);
    expect((await info()).classification).toEqual({ Intent: ['Structural'], Measurement: ['T1', 'T2'] });
    expect((await api.post(`${url}/classification`, { delete: { Measurement: ['T1'], Intent: ['Structural'] } })).status).toBe(200);
    expect((await info()).classification).toEqual({ Measurement: ['T2'] });
    expect((await api.post(`${url}/classification`, { replace: { Features: ['Quantitative'] }, modality: 'MR' })).status).toBe(200);
    expect(await info()).toMatchObject({ classification: { Features: ['Quantitative'] }, modality: 'MR' });
    const mixed = await api.post(`${url}/classification`, { replace: {}, add: { a: ['b'] } });
    expect(mixed.status).toBe(400);
    expect(mixed.body.message).toMatch(/replace/);

    expect((await api.put(url, { type: 'nifti', modality: 'CT', tags: ['t1', 't2'] })).status).toBe(200);
    expect(await info()).toMatchObject({ type: 'nifti', modality: 'CT', tags: ['t1', 't2'], info: { only: true } });
    const unknown = await api.put(url, { size: 5 });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toMatch(/size/);
    expect((await api.put(url, {})).status).toBe(400);
    expect((await api.put(`/acquisitions/${h.acquisition}/files/nope.bin`, { type: 'x' })).status).toBe(404);
    // Metadata edits keep the content and version.
    const after = await info();
    expect(after).toMatchObject({ version: 1, hash: sha384('dicom') });
  });

  it('loses no metadata change when several arrive at once', async () => {
    const h = await makeHierarchy(api);
    await api.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'busy.txt', content: 'x' }]);
    const url = `/acquisitions/${h.acquisition}/files/busy.txt`;
    const n = 12;
    const replies = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        i % 2 ? api.post(`${url}/info`, { set: { [`k${i}`]: i } }) : api.post(`${url}/classification`, { add: { Custom: [`c${i}`] } }),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 200));
    const doc = (await api.get(`${url}/info`)).body;
    expect(doc.info).toEqual(Object.fromEntries(Array.from({ length: n / 2 }, (_, j) => [`k${2 * j + 1}`, 2 * j + 1])));
    expect([...doc.classification.Custom].sort()).toEqual(Array.from({ length: n / 2 }, (_, j) => `c${2 * j}`).sort());
  });

  it('deletes a file with every version and its stored content', async () => {
    const h = await makeHierarchy(api);
    const keep = (await api.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'keep.txt', content: 'keep' }])).body[0];
    await api.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'gone.txt', content: 'one' }]);
    await api.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'gone.txt', content: 'two' }]);
    const blobs = () => s.blobs();
    const before = await blobs();

    const del = await api.del(`/acquisitions/${h.acquisition}/files/gone.txt`);
    expect(del.status).toBe(200);
    expect((await api.bytes(`/acquisitions/${h.acquisition}/files/gone.txt`)).status).toBe(404);
    expect((await api.bytes(`/acquisitions/${h.acquisition}/files/gone.txt?version=1`)).status).toBe(404);
    expect((await api.get(`/acquisitions/${h.acquisition}/files/gone.txt/versions`)).status).toBe(404);
    expect((await api.get(`/acquisitions/${h.acquisition}`)).body.files.map((f: any) => f.name)).toEqual(['keep.txt']);
    const after = await blobs();
    expect(before.length - after.length).toBe(2);
    expect(await s.pending()).toEqual([]);
    expect((await api.bytes(`/acquisitions/${h.acquisition}/files/keep.txt`)).data.toString()).toBe('keep');
    expect(keep.name).toBe('keep.txt');
    expect((await api.del(`/acquisitions/${h.acquisition}/files/gone.txt`)).status).toBe(404);

    // A name deleted and uploaded again starts over at version 1.
    const again = (await api.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'gone.txt', content: 'three' }])).body[0];
    expect(again.version).toBe(1);
  });

  it('rejects bad file names in paths and uploads with 400 naming the problem', async () => {
    const h = await makeHierarchy(api);
    await api.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'ok.txt', content: 'ok' }]);
    const base = `/acquisitions/${h.acquisition}/files`;
    const pathCases: [string, RegExp][] = [
      ['..', /'\.\.'/],
      ['%2E%2E', /'\.\.'/],
      ['a%2Fb.txt', /path separator/],
      ['..%2F..%2Fetc%2Fpasswd', /path separator/],
      ['a%5Cb.txt', /path separator/],
      ['a%00b.txt', /NUL or control/],
      ['a%01b.txt', /NUL or control/],
      ['a%0Ab.txt', /NUL or control/],
      ['a%7Fb.txt', /NUL or control/],
    ];
    for (const [name, msg] of pathCases) {
      for (const suffix of ['', '/info']) {
        const r = await raw('GET', `${base}/${name}${suffix}`, { key: adminKey() });
        expect(r.status, name + suffix).toBe(400);
        expect(r.body.message, name + suffix).toMatch(/file name/);
        expect(r.body.message, name + suffix).toMatch(msg);
      }
      const d = await raw('DELETE', `${base}/${name}`, { key: adminKey() });
      expect(d.status, `DELETE ${name}`).toBe(400);
    }

    const uploadCases: [string | undefined, RegExp][] = [
      ['..', /'\.\.'/],
      ['../../etc/passwd', /path separator/],
      ['dir/file.txt', /path separator/],
      ['dir\\file.txt', /path separator/],
      ['a\u0001b.txt', /NUL or control/],
      ['a\u0000b.txt', /NUL or control/],
      ['', /empty/],
      [undefined, /empty/],
    ];
    for (const [name, msg] of uploadCases) {
      const { body, contentType } = multipart([
        { filename: 'fine.txt', content: 'fine' },
        { filename: name, content: 'bad' },
      ]);
      const r = await raw('POST', base, { key: adminKey(), body, headers: { 'Content-Type': contentType } });
      expect(r.status, JSON.stringify(name)).toBe(400);
      expect(r.body.code, JSON.stringify(name)).toBe('INVALID_FILE_NAME');
      expect(r.body.message, JSON.stringify(name)).toMatch(msg);
    }
    // Nothing from the rejected uploads was kept, not even the good part before the bad one.
    expect((await api.get(`/acquisitions/${h.acquisition}`)).body.files.map((f: any) => f.name)).toEqual(['ok.txt']);
    expect(await s.pending()).toEqual([]);

    const dup = multipart([
      { filename: 'same.txt', content: '1' },
      { filename: 'same.txt', content: '2' },
    ]);
    const r = await raw('POST', base, { key: adminKey(), body: dup.body, headers: { 'Content-Type': dup.contentType } });
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(/twice/);
  });

  it('checks permissions on every file route', async () => {
    const h = await makeHierarchy(api);
    await api.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'f.txt', content: 'secret' }]);
    const uid = `u${Math.random().toString(36).slice(2, 8)}@example.org`;
    expect((await api.post('/users', { _id: uid, email: uid })).status).toBe(200);
    const key = (await api.post(`/users/${encodeURIComponent(uid)}/key`, {})).body.key as string;
    const user = s.as(key);
    const url = `/acquisitions/${h.acquisition}/files/f.txt`;

    // No role: the container does not exist as far as this user can tell.
    expect((await user.bytes(url)).status).toBe(404);
    expect((await user.get(`${url}/info`)).status).toBe(404);
    expect((await user.get(`${url}?ticket=`)).status).toBe(404);
    expect((await user.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'x.txt', content: 'x' }])).status).toBe(404);
    expect((await user.del(url)).status).toBe(404);

    const roles = (await api.get('/roles')).body as { _id: string; label: string }[];
    const ro = roles.find((r) => /read.only/i.test(r.label))!;
    expect((await api.post(`/projects/${h.project}/permissions`, { _id: uid, role_ids: [ro._id] })).status).toBe(200);
    expect((await user.bytes(url)).data.toString()).toBe('secret');
    expect((await user.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'x.txt', content: 'x' }])).status).toBe(403);
    expect((await user.put(url, { type: 'text' })).status).toBe(403);
    expect((await user.post(`${url}/info`, { set: { a: 1 } })).status).toBe(403);
    expect((await user.del(url)).status).toBe(403);
    expect(await s.pending()).toEqual([]);
  });
});
