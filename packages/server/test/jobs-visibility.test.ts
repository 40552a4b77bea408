import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../engine/test/helpers.js';
import { addGear, manifest } from './gear-kit.js';
import { type Api, makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

/**
 * Jobs a reader should see: every job on data they may read, whoever launched it (a gear rule, an
 * admin, a batch), through the container job lists and GET /jobs; with labels and paths beside
 * them; and what they may not see still redacted.
 */
let s: TestServer;
let bob: Api; // ro on group A
let carol: Api; // no access anywhere
let dave: Api; // ro on group B
type Ids = Awaited<ReturnType<typeof makeHierarchy>>;
let A: Ids;
let B: Ids;
let gearId: string;
let ruleJob: string;
let adminJob: string;
let crossJob: string;

beforeAll(async () => {
  s = await startTestServer();
  A = await makeHierarchy(s.admin);
  B = await makeHierarchy(s.admin);
  bob = await makeUser(s, 'bob@vis.org');
  carol = await makeUser(s, 'carol@vis.org');
  dave = await makeUser(s, 'dave@vis.org');
  ok(await s.admin.post(`/groups/${A.group}/permissions`, { _id: 'bob@vis.org', access: 'ro' }));
  ok(await s.admin.post(`/groups/${B.group}/permissions`, { _id: 'dave@vis.org', access: 'ro' }));
  gearId = await addGear(s.admin, manifest({ name: 'count-texts', inputs: { file: { base: 'file', name: { pattern: '\\.txt$' } } } }));
  const rid = ok(
    await s.admin.post(`/projects/${A.project}/rules`, {
      name: 'texts on upload',
      gear_id: gearId,
      any: [],
      all: [{ type: 'file.name', value: '*.txt' }],
      not: [],
    }),
  )._id;
  ok(await s.admin.upload(`/acquisitions/${A.acquisition}/files`, [{ name: 'a.txt', content: 'alpha\n' }]));
  let found: any[] = [];
  const ruleJobs = async () => {
    found = ok(await s.admin.get(`/jobs?filter=origin.id=rule:${rid}`));
    return found.length === 1;
  };
  expect(await eventually(ruleJobs, 10_000)).toBe(true);
  ruleJob = found[0]._id;
  const input = { file: { type: 'acquisition', id: A.acquisition, name: 'a.txt' } };
  adminJob = ok(await s.admin.post('/jobs/add', { gear_id: gearId, inputs: input, destination: { type: 'session', id: A.session } }))._id;
  // Reads from A, writes into B: bob sees its input side, dave its destination side.
  crossJob = ok(await s.admin.post('/jobs/add', { gear_id: gearId, inputs: input, destination: { type: 'session', id: B.session } }))._id;
});
afterAll(async () => {
  await s?.stop();
});

const ids = (jobs: any[]) => jobs.map((j) => j._id);
const pathOf = (h: Ids, level: 'project' | 'session' | 'acquisition') =>
  [h.group, 'Project', ...(level === 'project' ? [] : ['sub-01', 'ses-01']), ...(level === 'acquisition' ? ['T1w'] : [])].join('/');

describe('container job lists', () => {
  it('show a reader every job on the project, rule jobs included, with paths and the rule name', async () => {
    const r = ok(await bob.get(`/projects/${A.project}/jobs`));
    expect(ids(r.jobs)).toEqual(expect.arrayContaining([ruleJob, adminJob, crossJob]));
    const rule = r.jobs.find((j: any) => j._id === ruleJob);
    expect(rule.origin).toMatchObject({ type: 'system', via: { type: 'rule', name: 'texts on upload' } });
    expect(rule.tags).toContain('auto');
    expect(r.containers[A.acquisition]).toEqual({
      _id: A.acquisition,
      label: 'T1w',
      container_type: 'acquisition',
      path: pathOf(A, 'acquisition'),
    });
    expect(r.containers[A.session].path).toBe(pathOf(A, 'session'));
    expect(r.containers[A.project].path).toBe(pathOf(A, 'project'));
  });

  it('redact what the reader may not see, and leave it out of the containers map', async () => {
    const r = ok(await bob.get(`/projects/${A.project}/jobs`));
    const cross = r.jobs.find((j: any) => j._id === crossJob);
    expect(cross.destination).toEqual({ type: 'session', redacted: true });
    expect(cross.parents).toEqual({});
    for (const hidden of [B.session, B.subject, B.project]) expect(r.containers[hidden]).toBeUndefined();
    expect(JSON.stringify(r)).not.toContain(B.session);
  });

  it('list jobs below the container too, and hide the container from strangers', async () => {
    const r = ok(await bob.get(`/sessions/${A.session}/jobs`));
    expect(ids(r.jobs)).toEqual(expect.arrayContaining([ruleJob, adminJob]));
    expect((await carol.get(`/projects/${A.project}/jobs`)).status).toBe(404);
  });
});

describe('GET /jobs for users who are not site admins', () => {
  it('lists the jobs writing where the reader may view jobs, whoever launched them', async () => {
    const mine = ok(await bob.get('/jobs'));
    expect(ids(mine)).toEqual(expect.arrayContaining([ruleJob, adminJob]));
    // The cross job writes into B, which bob cannot see (he finds it under A's job list, redacted).
    expect(ids(mine)).not.toContain(crossJob);
    const daves = ok(await dave.get('/jobs'));
    expect(ids(daves)).toEqual([crossJob]);
    expect(daves[0].inputs.file).toEqual({ type: 'acquisition', redacted: true });
    expect(ok(await carol.get('/jobs'))).toEqual([]);
    expect((await carol.get(`/jobs/${ruleJob}`)).status).toBe(404);
  });

  it("answers Flywheel's fw.jobs.find filters, pages, and adds containers on request", async () => {
    const found = ok(await bob.get(`/jobs?filter=destination.id=${A.acquisition}`));
    expect(ids(found)).toEqual([ruleJob]);
    const page = await bob.get('/jobs?limit=1&sort=created:asc', { 'X-Accept-Feature': 'pagination' });
    expect(page.body).toMatchObject({ total: 2, count: 1, results: [{ _id: ruleJob }] });
    const withLabels = ok(await dave.get('/jobs?include=containers'));
    expect(ids(withLabels.jobs)).toEqual([crossJob]);
    expect(withLabels.containers[B.session].path).toBe(pathOf(B, 'session'));
    // The input's container is A's: not named to dave.
    expect(withLabels.containers[A.acquisition]).toBeUndefined();
    const bad = await bob.get('/jobs?include=everything');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/include/);
    const long = await bob.get(`/jobs?filter=label=${'x'.repeat(5000)}`);
    expect(long.status).toBe(400);
    expect(long.body.message).toMatch(/filter/);
  });

  it('/users/self/jobs carries the containers map too', async () => {
    const r = ok(await s.admin.get('/users/self/jobs'));
    expect(ids(r.jobs)).toEqual(expect.arrayContaining([adminJob, crossJob]));
    expect(r.containers[A.session].path).toBe(pathOf(A, 'session'));
  });
});

describe('batch proposals', () => {
  it('say why containers are ambiguous or unmatched, label them, and a dry run keeps no batch', async () => {
    const t2 = ok(await s.admin.post('/acquisitions', { session: A.session, label: 'T2w' }))._id;
    const dwi = ok(await s.admin.post('/acquisitions', { session: A.session, label: 'DWI' }))._id;
    ok(await s.admin.upload(`/acquisitions/${t2}/files`, [{ name: 'b.txt', content: 'b' }]));
    ok(await s.admin.upload(`/acquisitions/${t2}/files`, [{ name: 'c.txt', content: 'c' }]));
    ok(await s.admin.upload(`/acquisitions/${dwi}/files`, [{ name: 'scan.nii', content: 'n' }]));
    const before = ok(await s.admin.get('/batch')).length;
    const body = { gear_id: gearId, targets: [{ type: 'project', id: A.project }] };
    const dry = ok(await s.admin.post('/batch?dry_run=true', body));
    expect(dry._id).toBeNull();
    expect(dry.matched.map((c: any) => c._id)).toEqual([A.acquisition]);
    expect(dry.ambiguous).toEqual([expect.objectContaining({ _id: t2, reason: 'input file: 2 files match (b.txt, c.txt)' })]);
    expect(dry.not_matched).toEqual([
      expect.objectContaining({ _id: dwi, reason: 'input file: no file matches (name {"pattern":"\\\\.txt$"}; 1 file here)' }),
    ]);
    expect(dry.containers[A.subject]).toMatchObject({ label: 'sub-01', container_type: 'subject' });
    expect(dry.containers[t2].path).toBe(`${A.group}/Project/sub-01/ses-01/T2w`);
    expect(ok(await s.admin.get('/batch')).length).toBe(before);

    const real = ok(await s.admin.post('/batch', body));
    expect(real._id).toMatch(/^[0-9a-f]{24}$/);
    const listed = ok(await s.admin.get('/batch')).find((b: any) => b._id === real._id);
    expect(listed).toMatchObject({
      state: 'pending',
      gear_info: { id: gearId, name: 'count-texts', version: '1.0.0' },
      targets: [{ type: 'project', id: A.project, path: pathOf(A, 'project') }],
    });
    expect(ok(await s.admin.get(`/batch/${real._id}`)).targets[0].path).toBe(pathOf(A, 'project'));
  });
});
