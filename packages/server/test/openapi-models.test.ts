import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addGear, EngineSim, engineKeyOf, manifest } from './gear-kit.js';
import { type Api, makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { ok } from './people.js';

/**
 * The response models /api/openapi.json publishes, proven against real replies: every documented
 * GET route answers a document its 200 schema accepts, and sends no top-level field the model
 * leaves out. A field renamed, dropped or added on either side fails here.
 */

type Schema = { $ref?: string; items?: Schema; anyOf?: Schema[]; properties?: Record<string, unknown> };
type Doc = {
  paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: Schema }> }> }>>;
  components: { schemas: Record<string, Schema> };
};

const ENVELOPE = { 'X-Accept-Feature': 'Subject-Container,Safe-Redirect,pagination' };

let s: TestServer;
let doc: Doc;
const ajv = new Ajv({ strict: false, allErrors: true });

/** Component references made absolute, so the reply schema resolves against the registered document. */
function rebase(schema: unknown): unknown {
  return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/'));
}

/** The model a reply schema points at (directly, or as the items of a list). */
function modelOf(schema: Schema): string | undefined {
  if (schema.$ref) return schema.$ref.split('/').pop();
  if (schema.items) return modelOf(schema.items);
  for (const s of schema.anyOf ?? []) {
    const m = modelOf(s);
    if (m) return m;
  }
  return undefined;
}

/** GETs `url` (served by the `template` route) and checks the reply against the documented model. */
async function check(template: string, url: string, opts: { api?: Api; headers?: Record<string, string> } = {}): Promise<any> {
  const r = await (opts.api ?? s.admin).get(url, opts.headers);
  expect(r.status, `${url}: ${JSON.stringify(r.body)}`).toBe(200);
  const schema = doc.paths[`/api${template}`]?.get?.responses?.['200']?.content?.['application/json']?.schema;
  if (!schema) throw new Error(`GET ${template}: no 200 response schema in openapi.json`);
  const validate = ajv.compile(rebase(schema) as object);
  expect(validate(r.body) ? [] : validate.errors, `GET ${url}`).toEqual([]);

  const model = modelOf(schema)!;
  const declared = new Set(Object.keys(doc.components.schemas[model]?.properties ?? {}));
  const body = r.body as any;
  const docs: Record<string, unknown>[] = Array.isArray(body) ? body : Array.isArray(body?.results) ? body.results : [body];
  const undocumented = new Set(docs.flatMap((d) => Object.keys(d).filter((k) => !declared.has(k))));
  expect([...undocumented], `GET ${url}: fields the ${model} model does not document`).toEqual([]);
  return r.body;
}

beforeAll(async () => {
  s = await startTestServer();
  doc = ok(await s.admin.get('/openapi.json'));
  ajv.addSchema({ components: doc.components }, 'openapi');
});
afterAll(async () => {
  await s?.stop();
});

describe('response models in /api/openapi.json match real replies', () => {
  let h: Awaited<ReturnType<typeof makeHierarchy>>;
  beforeAll(async () => {
    h = await makeHierarchy(s.admin);
    ok(
      await s.admin.put(`/subjects/${h.subject}`, {
        sex: 'female',
        age: 900000000,
        species: 'human',
        date_of_birth: '1990-01-02T00:00:00Z',
      }),
    );
    ok(await s.admin.put(`/sessions/${h.session}`, { operator: 'op', weight: 70.5, timestamp: '2024-05-06T07:08:09Z' }));
    ok(await s.admin.put(`/projects/${h.project}`, { description: 'a project', info: { study: 'x' } }));
    ok(
      await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'brain.nii.gz', content: 'nifti bytes' }], {
        files: [{ name: 'brain.nii.gz', info: { te: 3 }, modality: 'MR' }],
      }),
    );
    ok(await s.admin.upload(`/projects/${h.project}/files`, [{ name: 'notes.txt', content: 'hello' }]));
  });

  it('site documents: config, version, roles, users', async () => {
    await check('/config', '/config');
    await check('/version', '/version');
    const roles = await check('/roles', '/roles');
    await check('/roles/{rid}', `/roles/${roles[0]._id}`);
    const self = await check('/users/self', '/users/self');
    await check('/users/{uid}', `/users/${encodeURIComponent(self._id)}`);
    await check('/users', '/users');
    await check('/users', '/users', { headers: ENVELOPE });
  });

  it('containers, single and listed, with files and info', async () => {
    await check('/groups/{id}', `/groups/${h.group}`);
    await check('/groups', '/groups');
    for (const [plural, id] of [
      ['projects', h.project],
      ['subjects', h.subject],
      ['sessions', h.session],
      ['acquisitions', h.acquisition],
    ] as const) {
      const one = await check(`/${plural}/{id}`, `/${plural}/${id}`);
      expect(one._id).toBe(id);
      await check(`/${plural}`, `/${plural}`);
      await check(`/${plural}`, `/${plural}`, { headers: ENVELOPE });
    }
    const acq = await check('/acquisitions/{id}', `/acquisitions/${h.acquisition}`);
    expect(acq.files.map((f: any) => f.name)).toEqual(['brain.nii.gz']);
  });

  it('collections, their sessions and acquisitions', async () => {
    const id = ok(await s.admin.post('/collections', { label: 'Picked', description: 'd', info: { a: 1 }, tags: ['t'] }))._id;
    ok(await s.admin.put(`/collections/${id}`, { contents: { operation: 'add', nodes: [{ _id: h.session, level: 'session' }] } }));
    const one = await check('/collections/{id}', `/collections/${id}`);
    expect(one.container_type).toBe('collection');
    await check('/collections', '/collections');
    await check('/collections', '/collections', { headers: ENVELOPE });
    expect((await check('/collections/{id}/sessions', `/collections/${id}/sessions`)).map((x: any) => x._id)).toEqual([h.session]);
    expect(
      (await check('/collections/{id}/acquisitions', `/collections/${id}/acquisitions`, { headers: ENVELOPE })).results.map(
        (x: any) => x._id,
      ),
    ).toEqual([h.acquisition]);
  });

  it('file entries', async () => {
    const f = await check('/acquisitions/{id}/files/{name}/info', `/acquisitions/${h.acquisition}/files/brain.nii.gz/info`);
    expect(f.info).toEqual({ te: 3 });
    await check('/projects/{id}/files/{name}/info', `/projects/${h.project}/files/notes.txt/info`);
  });

  it('gears, jobs (pending, running, complete) and job-based analyses', async () => {
    const engine = new EngineSim(s.as(engineKeyOf(s)));
    const gear = await addGear(s.admin, manifest({ inputs: { scan: { base: 'file' } }, config: { n: { type: 'integer', default: 1 } } }));
    await check('/gears/{id}', `/gears/${gear}`);
    await check('/gears', '/gears');
    await check('/gears', '/gears', { headers: ENVELOPE });

    const scan = { type: 'acquisition', id: h.acquisition, name: 'brain.nii.gz' };
    const jobId = ok(
      await s.admin.post('/jobs/add', {
        gear_id: gear,
        inputs: { scan },
        destination: { type: 'acquisition', id: h.acquisition },
        tags: ['t'],
      }),
    )._id;
    await check('/jobs/{id}', `/jobs/${jobId}`);
    const [job] = await engine.ask();
    expect(job.id).toBe(jobId);
    const running = await check('/jobs/{id}', `/jobs/${jobId}`);
    expect(running.request).toBeDefined();
    ok(await engine.finish(job, true, [{ name: 'out.txt', content: 'done' }]));
    expect((await check('/jobs/{id}', `/jobs/${jobId}`)).state).toBe('complete');
    await check('/jobs', '/jobs');
    await check('/jobs', '/jobs', { headers: ENVELOPE });

    const analysisGear = await addGear(
      s.admin,
      manifest({ inputs: { scan: { base: 'file' } }, custom: { 'gear-builder': { category: 'analysis' } } }),
    );
    const { _id: aid } = ok(
      await s.admin.post(`/sessions/${h.session}/analyses`, { label: 'run', job: { gear_id: analysisGear, inputs: { scan } } }),
    );
    const analysis = await check('/sessions/{id}/analyses/{aid}', `/sessions/${h.session}/analyses/${aid}`);
    expect(analysis.gear_info.id).toBe(analysisGear);
    await check('/analyses/{id}', `/analyses/${aid}`);
    await check('/sessions/{id}/analyses', `/sessions/${h.session}/analyses`);
    const adhoc = ok(await s.admin.post(`/acquisitions/${h.acquisition}/analyses`, { label: 'by hand', inputs: [scan] }));
    expect((await check('/analyses/{id}', `/analyses/${adhoc._id}`)).inputs).toHaveLength(1);
  });

  it('batches and gear rules', async () => {
    // The acquisition also holds the first job's output by now: only the NIfTI file matches.
    const gear = await addGear(s.admin, manifest({ inputs: { scan: { base: 'file', type: { enum: ['nifti'] } } } }));
    const proposal = ok(await s.admin.post('/batch', { gear_id: gear, targets: [{ type: 'acquisition', id: h.acquisition }] }));
    await check('/batch/{id}', `/batch/${proposal._id}`);
    ok(await s.admin.post(`/batch/${proposal._id}/run`));
    const launched = await check('/batch/{id}', `/batch/${proposal._id}`);
    expect(launched.jobs).toHaveLength(1);
    await check('/batch/{id}', `/batch/${proposal._id}?jobs=true`);
    await check('/batch', '/batch');

    const { _id: rid } = ok(
      await s.admin.post(`/projects/${h.project}/rules`, { name: 'nifti', gear_id: gear, any: [{ type: 'file.name', value: '*.nii.gz' }] }),
    );
    await check('/projects/{id}/rules/{rid}', `/projects/${h.project}/rules/${rid}`);
    await check('/projects/{id}/rules', `/projects/${h.project}/rules`);
  });
});
