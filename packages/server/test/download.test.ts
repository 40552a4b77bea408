import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainersTable } from '../src/db/schema.js';
import { dicomImporterOf } from '../src/dicom/importer.js';
import { newId } from '../src/ids.js';
import { type Api, makeHierarchy, STORAGE_BACKENDS, startTestServer, type TestServer } from './helpers.js';

let s: TestServer;
let api: Api;

const content = (seed: string, n: number) => {
  const out = Buffer.alloc(n);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < n; i += block.length) {
    block.copy(out, i, 0, Math.min(block.length, n - i));
    block = createHash('sha256').update(block).digest();
  }
  return out;
};

async function ok<T = any>(p: Promise<{ status: number; body: T }>): Promise<T> {
  const r = await p;
  if (r.status >= 300) throw new Error(`setup request failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Reads every member of a tar stream into memory (test archives are small). */
async function untar(data: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        expect(header.type).toBe('file');
        out.set(header.name, Buffer.concat(chunks));
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from([data]).pipe(extract);
  await done;
  return out;
}

/** A small zip reader: walks the central directory, checks each member's CRC and returns the contents. */
function unzip(data: Buffer): Map<string, Buffer> {
  let eocd = -1;
  for (let i = data.length - 22; i >= Math.max(0, data.length - 22 - 0xffff); i--) {
    if (data.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  expect(eocd).toBeGreaterThanOrEqual(0);
  const count = data.readUInt16LE(eocd + 10);
  let p = data.readUInt32LE(eocd + 16);
  const out = new Map<string, Buffer>();
  for (let n = 0; n < count; n++) {
    expect(data.readUInt32LE(p)).toBe(0x02014b50);
    const method = data.readUInt16LE(p + 10);
    const crc = data.readUInt32LE(p + 16);
    const compressed = data.readUInt32LE(p + 20);
    const size = data.readUInt32LE(p + 24);
    const nameLen = data.readUInt16LE(p + 28);
    const extraLen = data.readUInt16LE(p + 30);
    const commentLen = data.readUInt16LE(p + 32);
    const local = data.readUInt32LE(p + 42);
    const name = data.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    p += 46 + nameLen + extraLen + commentLen;

    expect(data.readUInt32LE(local)).toBe(0x04034b50);
    const start = local + 30 + data.readUInt16LE(local + 26) + data.readUInt16LE(local + 28);
    const stored = data.subarray(start, start + compressed);
    const body = method === 0 ? Buffer.from(stored) : zlib.inflateRawSync(stored);
    expect(body.length, name).toBe(size);
    expect(zlib.crc32(body), name).toBe(crc);
    out.set(name, body);
  }
  return out;
}

interface Tree {
  group: string;
  project: string;
  sessionA: string;
  acqA1: string;
  /** archive path → content, for every file under the project */
  files: Map<string, Buffer>;
  types: Map<string, string | null>;
}

/** Two subjects, three sessions, files on every level, an analysis and two acquisitions sharing a label. */
async function buildTree(): Promise<Tree> {
  const group = `dl${Math.random().toString(36).slice(2, 8)}`;
  await ok(api.post('/groups', { _id: group, label: group }));
  const project = (await ok(api.post('/projects', { group, label: 'Study' })))._id;
  const files = new Map<string, Buffer>();
  const types = new Map<string, string | null>();
  const put = async (plural: string, id: string, dir: string, name: string, size: number, type: string | null) => {
    const data = content(`${dir}/${name}`, size);
    await ok(api.upload(`/${plural}/${id}/files`, [{ name, content: new Blob([data]) }]));
    files.set(`${dir}/files/${name}`, data);
    types.set(`${dir}/files/${name}`, type);
  };
  const root = `${group}/Study`;
  await put('projects', project, root, 'protocol.pdf', 2000, 'pdf');

  const subA = (await ok(api.post('/subjects', { project, label: 'sub-A' })))._id;
  const subB = (await ok(api.post('/subjects', { project, label: 'sub-B' })))._id;
  await put('subjects', subA, `${root}/sub-A`, 'consent.txt', 100, 'text');
  const sessionA = (await ok(api.post('/sessions', { project, subject: { _id: subA }, label: 'baseline' })))._id;
  const sessionB = (await ok(api.post('/sessions', { project, subject: { _id: subB }, label: 'baseline' })))._id;
  const sessionB2 = (await ok(api.post('/sessions', { project, subject: { _id: subB }, label: 'followup' })))._id;
  await put('sessions', sessionA, `${root}/sub-A/baseline`, 'notes.md', 300, 'markdown');

  const acqA1 = (await ok(api.post('/acquisitions', { session: sessionA, label: 'T1w' })))._id;
  await put('acquisitions', acqA1, `${root}/sub-A/baseline/T1w`, 'T1w.nii.gz', 200_000, 'nifti');
  await put('acquisitions', acqA1, `${root}/sub-A/baseline/T1w`, 'T1w.dicom.zip', 150_000, 'dicom');
  // Re-uploaded: only the current version is in the archive.
  await ok(api.upload(`/acquisitions/${acqA1}/files`, [{ name: 'T1w.nii.gz', content: 'old' }]));
  await put('acquisitions', acqA1, `${root}/sub-A/baseline/T1w`, 'T1w.nii.gz', 210_000, 'nifti');

  // Sibling acquisitions with one label get their id appended so neither overwrites the other.
  const rest1 = (await ok(api.post('/acquisitions', { session: sessionB, label: 'rest' })))._id;
  const rest2 = (await ok(api.post('/acquisitions', { session: sessionB, label: 'rest' })))._id;
  await put('acquisitions', rest1, `${root}/sub-B/baseline/rest_${rest1}`, 'bold.nii.gz', 5000, 'nifti');
  await put('acquisitions', rest2, `${root}/sub-B/baseline/rest_${rest2}`, 'bold.nii.gz', 6000, 'nifti');
  const dwi = (await ok(api.post('/acquisitions', { session: sessionB2, label: 'dwi' })))._id;
  await put('acquisitions', dwi, `${root}/sub-B/followup/dwi`, 'dwi.bval', 50, 'bval');
  await put('acquisitions', dwi, `${root}/sub-B/followup/dwi`, 'empty.json', 0, 'source code');
  await put('acquisitions', dwi, `${root}/sub-B/followup/dwi`, 'unknown.xyz', 10, null);

  const analysis = (await ok(api.post(`/sessions/${sessionA}/analyses`, { label: 'qa run' })))._id;
  await put('analyses', analysis, `${root}/sub-A/baseline/analyses/qa run`, 'report.qa.html', 700, 'qa');

  return { group, project, sessionA, acqA1, files, types };
}

function sortedEntries(m: Map<string, Buffer>) {
  return [...m.entries()].map(([k, v]) => [k, createHash('sha256').update(v).digest('hex')]).sort();
}

describe.each(STORAGE_BACKENDS)('multi-container download (%s storage)', (storage) => {
  let t: Tree;
  beforeAll(async () => {
    s = await startTestServer({ storage });
    api = s.admin;
    t = await buildTree();
    // The tree holds a 'dicom' file: its header extraction stamps the file's modified time (the
    // entries' mtime) once it ends, so archives are compared only after it has.
    await dicomImporterOf(s.ctx)?.idle();
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('streams a project as tar with every current file at group/project/…/files/name', async () => {
    const r = await api.bytes(`/projects/${t.project}/download?format=tar`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/x-tar');
    expect(r.headers.get('content-disposition')).toMatch(/attachment; filename=".*\.tar"/);
    expect(sortedEntries(await untar(r.data))).toEqual(sortedEntries(t.files));
    // tar is the default format.
    expect((await api.bytes(`/projects/${t.project}/download`)).data.equals(r.data)).toBe(true);
  });

  it('streams a project as zip with identical bytes', async () => {
    const r = await api.bytes(`/projects/${t.project}/download?format=zip`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/zip');
    expect(sortedEntries(unzip(r.data))).toEqual(sortedEntries(t.files));
  });

  it('downloads a session or acquisition subtree only', async () => {
    const prefix = `${t.group}/Study/sub-A/baseline/`;
    const session = await untar((await api.bytes(`/sessions/${t.sessionA}/download`)).data);
    expect(sortedEntries(session)).toEqual(sortedEntries(new Map([...t.files].filter(([k]) => k.startsWith(prefix)))));
    const acq = unzip((await api.bytes(`/acquisitions/${t.acqA1}/download?format=zip`)).data);
    expect([...acq.keys()].sort()).toEqual([`${prefix}T1w/files/T1w.dicom.zip`, `${prefix}T1w/files/T1w.nii.gz`]);
  });

  it('includes or excludes by file type, and summarises counts and sizes', async () => {
    const expectSel = (pred: (type: string | null) => boolean) => new Map([...t.files].filter(([k]) => pred(t.types.get(k)!)));
    const nifti = await untar((await api.bytes(`/projects/${t.project}/download?include=nifti`)).data);
    expect(sortedEntries(nifti)).toEqual(sortedEntries(expectSel((ty) => ty === 'nifti')));
    const two = unzip((await api.bytes(`/projects/${t.project}/download?format=zip&include=nifti,dicom`)).data);
    expect(sortedEntries(two)).toEqual(sortedEntries(expectSel((ty) => ty === 'nifti' || ty === 'dicom')));
    const noImages = await untar((await api.bytes(`/projects/${t.project}/download?exclude=nifti,dicom`)).data);
    expect(sortedEntries(noImages)).toEqual(sortedEntries(expectSel((ty) => ty !== 'nifti' && ty !== 'dicom')));
    expect([...noImages.keys()].some((k) => k.endsWith('unknown.xyz'))).toBe(true);

    const total = [...t.files.values()].reduce((n, b) => n + b.length, 0);
    expect((await api.get(`/projects/${t.project}/download?summary=true`)).body).toEqual({ file_cnt: t.files.size, size: total });
    const sel = expectSel((ty) => ty === 'nifti');
    expect((await api.get(`/projects/${t.project}/download?summary=true&include=nifti`)).body).toEqual({
      file_cnt: sel.size,
      size: [...sel.values()].reduce((n, b) => n + b.length, 0),
    });
    const bad = await api.get(`/projects/${t.project}/download?format=rar`);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/format/);
  });

  it('creates a ticket with POST /download and streams it with GET /download?ticket=', async () => {
    const post = await api.post('/download', {
      nodes: [{ level: 'session', _id: t.sessionA }],
      optional: false,
      filters: [{ types: { plus: ['nifti', 'qa'] } }],
    });
    expect(post.status).toBe(200);
    const expected = new Map(
      [...t.files].filter(([k]) => k.includes('/sub-A/baseline/') && ['nifti', 'qa'].includes(t.types.get(k) ?? '')),
    );
    expect(post.body).toMatchObject({ file_cnt: expected.size, size: [...expected.values()].reduce((n, b) => n + b.length, 0) });
    expect(typeof post.body.ticket).toBe('string');

    // The ticket alone opens the download: no API key.
    const tarred = await s.anon.bytes(`/download?ticket=${encodeURIComponent(post.body.ticket)}`);
    expect(tarred.status).toBe(200);
    expect(sortedEntries(await untar(tarred.data))).toEqual(sortedEntries(expected));
    const zipped = await s.anon.bytes(`/download?ticket=${encodeURIComponent(post.body.ticket)}&format=zip`);
    expect(sortedEntries(unzip(zipped.data))).toEqual(sortedEntries(expected));

    // Several nodes, overlapping, with an exclusion: each file appears once.
    const multi = await api.post('/download', {
      nodes: [
        { level: 'project', _id: t.project },
        { level: 'acquisition', _id: t.acqA1 },
      ],
      filters: [{ types: { minus: ['dicom'] } }],
    });
    const all = await untar((await s.anon.bytes(`/download?ticket=${encodeURIComponent(multi.body.ticket)}`)).data);
    expect(sortedEntries(all)).toEqual(sortedEntries(new Map([...t.files].filter(([k]) => t.types.get(k) !== 'dicom'))));
    expect(multi.body.file_cnt).toBe(all.size);

    for (const bad of ['nope', `${post.body.ticket}x`]) {
      const r = await s.anon.get(`/download?ticket=${encodeURIComponent(bad)}`);
      expect(r.status).toBe(401);
      expect(r.body.message).toMatch(/ticket/);
    }
    expect((await s.anon.get('/download')).status).toBe(400);
    const noId = await api.post('/download', { nodes: [{ level: 'session' }] });
    expect(noId.status).toBe(400);
    expect(noId.body.message).toMatch(/nodes\[0\]/);
  });

  it('hides containers from users without access (404), serves those with a role', async () => {
    const uid = `dl${Math.random().toString(36).slice(2, 8)}@example.org`;
    await ok(api.post('/users', { _id: uid, email: uid }));
    const user = s.as((await ok(api.post(`/users/${encodeURIComponent(uid)}/key`, {}))).key);

    expect((await user.get(`/projects/${t.project}/download`)).status).toBe(404);
    expect((await user.get(`/projects/${t.project}/download?summary=true`)).status).toBe(404);
    expect((await user.get(`/sessions/${t.sessionA}/download?format=zip`)).status).toBe(404);
    expect((await user.post('/download', { nodes: [{ level: 'project', _id: t.project }] })).status).toBe(404);
    expect((await s.anon.get(`/projects/${t.project}/download`)).status).toBe(401);

    // A ticket made by someone with access, then that access is revoked: the ticket stops working.
    const roles = (await api.get('/roles')).body as { _id: string; label: string }[];
    const ro = roles.find((r) => /read.only/i.test(r.label))!;
    await ok(api.post(`/projects/${t.project}/permissions`, { _id: uid, role_ids: [ro._id] }));
    expect(sortedEntries(await untar((await user.bytes(`/projects/${t.project}/download`)).data))).toEqual(sortedEntries(t.files));
    const ticket = (await ok(user.post('/download', { nodes: [{ level: 'project', _id: t.project }] }))).ticket;
    expect((await s.anon.bytes(`/download?ticket=${encodeURIComponent(ticket)}`)).status).toBe(200);
    await ok(api.del(`/projects/${t.project}/permissions/${encodeURIComponent(uid)}`));
    expect((await s.anon.get(`/download?ticket=${encodeURIComponent(ticket)}`)).status).toBe(404);
  });

  it('releases the open blob when a client hangs up mid-archive, and a lost blob ends only that response', async () => {
    // The server (and s3rver, for S3) runs in this process, so open blob files are visible in /proc/self/fd.
    const blobDir = s.contentDir;
    const openBlobs = () =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(blobDir);
        } catch {
          return false;
        }
      }).length;
    const h = await makeHierarchy(api);
    const big = Buffer.alloc(12 << 20, 7);
    await ok(
      api.upload(`/acquisitions/${h.acquisition}/files`, [
        { name: 'a.bin', content: new Blob([big]) },
        { name: 'b.bin', content: new Blob([big]) },
      ]),
    );
    for (const p of ['download?format=tar', 'download?format=zip', 'files/a.bin']) {
      const ac = new AbortController();
      const res = await fetch(`${s.url}/acquisitions/${h.acquisition}/${p}`, { headers: api.headers(), signal: ac.signal });
      expect(res.status).toBe(200);
      await res.body!.getReader().read();
      await expect.poll(openBlobs, { timeout: 5000 }).toBe(1);
      ac.abort();
      await expect.poll(openBlobs, { timeout: 5000 }).toBe(0);
    }

    const stored = (await ok(api.get(`/acquisitions/${h.acquisition}/files/b.bin/versions`)))[0];
    expect(stored.size).toBe(big.length);
    const row = await s.ctx.handle.db
      .selectFrom('files')
      .select('id')
      .where('container_id', '=', h.acquisition)
      .where('name', '=', 'b.bin')
      .executeTakeFirstOrThrow();
    await s.removeBlob(row.id);
    for (const p of ['download?format=tar', 'download?format=zip', 'files/b.bin']) {
      const broken = await fetch(`${s.url}/acquisitions/${h.acquisition}/${p}`, { headers: api.headers() })
        .then((r) => r.arrayBuffer())
        .then((b) => b.byteLength)
        .catch(() => -1);
      expect(broken).toBeLessThan(2 * big.length);
    }
    expect((await api.get(`/acquisitions/${h.acquisition}`)).status).toBe(200);
    await expect.poll(openBlobs, { timeout: 5000 }).toBe(0);
  });

  it('downloads a subtree with more containers than one query may bind parameters for', { timeout: 120_000 }, async () => {
    const h = await makeHierarchy(api);
    const db = s.ctx.handle.db;
    const session = await db.selectFrom('containers').selectAll().where('id', '=', h.session).executeTakeFirstOrThrow();
    // SQLite binds at most 32,766 parameters per statement; written directly, the API would take minutes.
    const count = 33_000;
    const rows: ContainersTable[] = Array.from({ length: count }, (_, i) => ({
      ...session,
      id: newId(),
      type: 'acquisition',
      label: `acq-${i}`,
      session_id: session.id,
      parent_type: 'session',
      parent_id: session.id,
      uid: null,
      timestamp: null,
    }));
    await db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += 500)
        await trx
          .insertInto('containers')
          .values(rows.slice(i, i + 500))
          .execute();
    });
    const last = rows[count - 1]!;
    await ok(api.upload(`/acquisitions/${last.id}/files`, [{ name: 'deep.nii.gz', content: 'last one' }]));
    await ok(api.upload(`/acquisitions/${rows[0]!.id}/files`, [{ name: 'first.txt', content: 'first one' }]));

    expect((await api.get(`/projects/${h.project}/download?summary=true`)).body).toEqual({ file_cnt: 2, size: 17 });
    const archive = await untar((await api.bytes(`/sessions/${h.session}/download`)).data);
    expect([...archive.keys()].sort()).toEqual([
      `${h.group}/Project/sub-01/ses-01/acq-0/files/first.txt`,
      `${h.group}/Project/sub-01/ses-01/acq-${count - 1}/files/deep.nii.gz`,
    ]);
  });
});
