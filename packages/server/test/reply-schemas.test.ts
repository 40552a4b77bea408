import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { addGear, EngineSim, engineKeyOf, manifest } from './gear-kit.js';
import { makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { ok } from './people.js';

/**
 * The document routes that declare reply schemas (src/http/replies.ts) send what they sent before: each URL
 * is asked of the server (replies through fast-json-stringify) and of a second app on the same
 * database built with `replySchemas: false` (the same handlers, replies through JSON.stringify).
 * The two bodies must parse to the same value: no key dropped, no null turned into "" or 0, no
 * number rounded, free-form objects (info, config, inputs, manifests) whole. The documents carry
 * every optional field both set and unset: nulls, nested and unicode info, empty lists.
 */

let s: TestServer;
let plain: FastifyInstance;
let key: string;

beforeAll(async () => {
  s = await startTestServer();
  key = fs.readFileSync(path.join(s.dataDir, 'admin-api-key'), 'utf8').trim();
  plain = await buildApp(s.ctx, { replySchemas: false });
  await plain.ready();
});
afterAll(async () => {
  await plain?.close();
  await s?.stop();
});

/** GETs `url` from both apps; returns the parsed reply after checking they agree. */
async function same(url: string, features = 'Subject-Container,Safe-Redirect'): Promise<any> {
  const headers = { Authorization: `scitran-user ${key}`, 'X-Accept-Feature': features };
  const a = await s.admin.get(url, { 'X-Accept-Feature': features });
  const b = await plain.inject({ method: 'GET', url: `/api${url}`, headers });
  expect(a.status, `${url}: ${JSON.stringify(a.body)}`).toBe(200);
  expect(b.statusCode).toBe(200);
  const plainBody = JSON.parse(b.body);
  expect(a.body, `GET ${url}`).toStrictEqual(plainBody);
  return a.body;
}

// Free text (info, config) may hold control characters; names, labels and tags may not.
const NAME = 'Zürich — 東京 🧠 "quoted" \\';
const UNICODE = `${NAME} \n tab\t \u0001`;

describe('replies with and without the reply schemas', () => {
  let h: Awaited<ReturnType<typeof makeHierarchy>>;
  let bare: Awaited<ReturnType<typeof makeHierarchy>>;
  let gear: string;
  let jobId: string;

  beforeAll(async () => {
    h = await makeHierarchy(s.admin);
    // A second hierarchy left as created: every optional field absent.
    bare = await makeHierarchy(s.admin);
    const info = { nested: { deeper: { list: [1, 2.5, null, 'x'], empty: {} } }, nothing: null, text: UNICODE, n: 0, f: false };
    ok(await s.admin.put(`/projects/${h.project}`, { description: NAME, info }));
    ok(
      await s.admin.put(`/subjects/${h.subject}`, {
        firstname: NAME,
        sex: 'female',
        age: 900000000,
        species: null,
        date_of_birth: '1990-01-02T00:00:00Z',
        info,
      }),
    );
    ok(await s.admin.put(`/sessions/${h.session}`, { operator: null, weight: 70.5, age: null, timestamp: '2024-05-06T07:08:09Z', info }));
    ok(await s.admin.put(`/acquisitions/${h.acquisition}`, { uid: null, timestamp: null, timezone: 'Europe/Zürich', info, tags: [NAME] }));
    ok(
      await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'brain ü.nii.gz', content: 'nifti bytes' }], {
        files: [{ name: 'brain ü.nii.gz', info, modality: 'MR', classification: { Intent: ['Structural'], Custom: [NAME] } }],
      }),
    );
    ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'plain.txt', content: 'hello' }]));
    ok(await s.admin.post(`/acquisitions/${h.acquisition}/notes`, { text: UNICODE }));

    gear = await addGear(
      s.admin,
      manifest({
        label: NAME,
        inputs: { scan: { base: 'file', description: NAME } },
        config: { n: { type: 'integer', default: 1 }, s: { type: 'string', default: UNICODE } },
        custom: { free: { form: [null, { deep: true }] } },
      }),
    );
    const scan = { type: 'acquisition', id: h.acquisition, name: 'brain ü.nii.gz' };
    jobId = ok(
      await s.admin.post('/jobs/add', {
        gear_id: gear,
        inputs: { scan },
        config: { n: 2.5e3, s: UNICODE },
        destination: { type: 'acquisition', id: h.acquisition },
        tags: ['t', NAME],
      }),
    )._id;
  });

  it('container documents, filled and bare', async () => {
    for (const [plural, id, bareId] of [
      ['projects', h.project, bare.project],
      ['subjects', h.subject, bare.subject],
      ['sessions', h.session, bare.session],
      ['acquisitions', h.acquisition, bare.acquisition],
    ] as const) {
      await same(`/${plural}/${id}`);
      await same(`/${plural}/${bareId}`);
    }
    const acq = await same(`/acquisitions/${h.acquisition}`);
    expect(acq.info.nested.deeper.list).toEqual([1, 2.5, null, 'x']);
    expect(acq.info.nothing).toBeNull();
    expect(acq.uid).toBeNull();
    expect(acq.files.map((f: any) => f.name).sort()).toEqual(['brain ü.nii.gz', 'plain.txt']);
    const subject = await same(`/subjects/${h.subject}`);
    expect(subject.species).toBeNull();
    expect(subject.firstname).toBe(NAME);
  });

  it('files inside containers', async () => {
    const f = await same(`/acquisitions/${h.acquisition}/files/${encodeURIComponent('brain ü.nii.gz')}/info`);
    expect(f.info.text).toBe(UNICODE);
    expect((await same(`/acquisitions/${h.acquisition}/files/plain.txt/info`)).modality).toBeNull();
  });

  it('gears and jobs (pending, running, complete), analyses', async () => {
    await same(`/gears/${gear}`);
    await same(`/jobs/${jobId}`);
    const engine = new EngineSim(s.as(engineKeyOf(s)));
    const [job] = await engine.ask();
    expect((await same(`/jobs/${job.id}`)).state).toBe('running');
    ok(await engine.finish(job, true, [{ name: 'out.txt', content: 'done' }]));
    expect(JSON.stringify((await same(`/jobs/${jobId}`)).config)).toContain(JSON.stringify(UNICODE));

    const scan = { type: 'acquisition', id: h.acquisition, name: 'brain ü.nii.gz' };
    const { _id: aid } = ok(await s.admin.post(`/acquisitions/${h.acquisition}/analyses`, { label: NAME, inputs: [scan] }));
    await same(`/analyses/${aid}`);
    await same(`/acquisitions/${h.acquisition}`);
  });
});
