import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addGear, manifest } from './gear-kit.js';
import { makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

/**
 * Analyses as Flywheel's SDK reads them (`get_analysis` with `inflate_job`, `get_analyses(cont, id,
 * sub)` over a container's children), and the permissions a new project starts with.
 */

let s: TestServer;
let h: Awaited<ReturnType<typeof makeHierarchy>>;
const A: Record<string, string> = {};
let jobAnalysis: string;
let jobId: string;
let other: Awaited<ReturnType<typeof makeHierarchy>>;

const labels = (docs: any[]) => docs.map((d) => d.label).sort();

beforeAll(async () => {
  s = await startTestServer();
  h = await makeHierarchy(s.admin, 'ana-lab');
  ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'scan.nii.gz', content: 'voxels' }]));
  for (const [type, id] of [
    ['projects', h.project],
    ['subjects', h.subject],
    ['sessions', h.session],
    ['acquisitions', h.acquisition],
  ] as const) {
    A[type] = ok(await s.admin.post(`/${type}/${id}/analyses`, { label: `on-${type}` }))._id;
  }
  // A second session with an analysis, and another project whose analyses never show up here.
  const ses2 = ok(await s.admin.post('/sessions', { project: h.project, subject: { _id: h.subject }, label: 'ses-02' }))._id;
  A.ses2 = ok(await s.admin.post(`/sessions/${ses2}/analyses`, { label: 'on-ses-02' }))._id;
  other = await makeHierarchy(s.admin, 'ana-other');
  ok(await s.admin.post(`/sessions/${other.session}/analyses`, { label: 'elsewhere' }));

  const gear = await addGear(
    s.admin,
    manifest({ inputs: { scan: { base: 'file' } }, custom: { 'gear-builder': { category: 'analysis' } } }),
  );
  jobAnalysis = ok(
    await s.admin.post(`/acquisitions/${h.acquisition}/analyses`, {
      label: 'by-job',
      job: { gear_id: gear, inputs: { scan: { type: 'acquisition', id: h.acquisition, name: 'scan.nii.gz' } } },
    }),
  )._id;
  jobId = ok(await s.admin.get(`/analyses/${jobAnalysis}`)).job;
});
afterAll(async () => {
  await s?.stop();
});

describe('inflate_job', () => {
  it('GET /analyses/{id}?inflate_job=true answers the job document (analysis.job.id)', async () => {
    expect(jobId).toMatch(/^[0-9a-f]{24}$/);
    for (const flag of ['true', 'True', '1']) {
      const a = ok(await s.admin.get(`/analyses/${jobAnalysis}?inflate_job=${flag}`));
      expect(a.job, flag).toMatchObject({ id: jobId, gear_id: expect.any(String), state: 'pending' });
      expect(a.job.destination).toEqual({ type: 'analysis', id: jobAnalysis });
    }
    expect(ok(await s.admin.get(`/analyses/${jobAnalysis}?inflate_job=False`)).job).toBe(jobId);
    expect(ok(await s.admin.get(`/analyses/${jobAnalysis}`)).job).toBe(jobId);
    // The other analysis routes take it too; analyses without a job are left as they are.
    expect(ok(await s.admin.get(`/acquisitions/${h.acquisition}/analyses/${jobAnalysis}?inflate_job=True`)).job.id).toBe(jobId);
    const listed = ok(await s.admin.get(`/acquisitions/${h.acquisition}/analyses?inflate_job=True`));
    expect(listed.find((a: any) => a._id === jobAnalysis).job.id).toBe(jobId);
    expect(listed.find((a: any) => a._id === A.acquisitions).job).toBeUndefined();
    expect(ok(await s.admin.get(`/analyses/${A.sessions}?inflate_job=true`)).job).toBeUndefined();
  });

  it('a reader sees the job as job documents show it to them', async () => {
    const reader = await makeUser(s, 'reader@ana.org');
    ok(await s.admin.post('/groups/ana-lab/permissions', { _id: 'reader@ana.org', access: 'ro' }));
    const a = ok(await reader.get(`/analyses/${jobAnalysis}?inflate_job=true`));
    expect(a.job.id).toBe(jobId);
  });
});

describe('GET /{cont}/{id}/{child}/analyses', () => {
  it("lists the analyses hung off a container's children, or all at and below it", async () => {
    const get = async (p: string) => labels(ok(await s.admin.get(p)));
    expect(await get(`/projects/${h.project}/sessions/analyses`)).toEqual(['on-ses-02', 'on-sessions']);
    expect(await get(`/projects/${h.project}/subjects/analyses`)).toEqual(['on-subjects']);
    expect(await get(`/projects/${h.project}/acquisitions/analyses`)).toEqual(['by-job', 'on-acquisitions']);
    expect(await get(`/projects/${h.project}/all/analyses`)).toEqual([
      'by-job',
      'on-acquisitions',
      'on-projects',
      'on-ses-02',
      'on-sessions',
      'on-subjects',
    ]);
    expect(await get(`/subjects/${h.subject}/sessions/analyses`)).toEqual(['on-ses-02', 'on-sessions']);
    expect(await get(`/subjects/${h.subject}/acquisitions/analyses`)).toEqual(['by-job', 'on-acquisitions']);
    expect(await get(`/subjects/${h.subject}/all/analyses`)).toEqual([
      'by-job',
      'on-acquisitions',
      'on-ses-02',
      'on-sessions',
      'on-subjects',
    ]);
    expect(await get(`/sessions/${h.session}/acquisitions/analyses`)).toEqual(['by-job', 'on-acquisitions']);
    expect(await get(`/sessions/${h.session}/all/analyses`)).toEqual(['by-job', 'on-acquisitions', 'on-sessions']);
    expect(await get(`/acquisitions/${h.acquisition}/all/analyses`)).toEqual(['by-job', 'on-acquisitions']);
    expect(await get(`/projects/${other.project}/all/analyses`)).toEqual(['elsewhere']);
  });

  it('pages and filters like any list, and inflates jobs when asked', async () => {
    const page = ok(await s.admin.get(`/projects/${h.project}/all/analyses?limit=2&sort=label:asc`));
    expect(labels(page)).toEqual(['by-job', 'on-acquisitions']);
    const filtered = ok(await s.admin.get(`/projects/${h.project}/all/analyses?filter=label=on-subjects`));
    expect(labels(filtered)).toEqual(['on-subjects']);
    const env = ok(await s.admin.get(`/projects/${h.project}/all/analyses`, { 'X-Accept-Feature': 'pagination' }));
    expect(env.total).toBe(6);
    const inflated = ok(await s.admin.get(`/projects/${h.project}/acquisitions/analyses?inflate_job=True`));
    expect(inflated.find((a: any) => a.label === 'by-job').job.id).toBe(jobId);
  });

  it('only for callers who may see the analyses', async () => {
    const stranger = await makeUser(s, 'stranger@ana.org');
    const r = await stranger.get(`/projects/${h.project}/all/analyses`);
    expect(r.status).toBe(404);
    // A role that shows the data but not the analyses run on it.
    const role = ok(await s.admin.post('/roles', { label: 'data only', actions: ['containers_view_metadata', 'files_view_metadata'] }))._id;
    const dataOnly = await makeUser(s, 'dataonly@ana.org');
    ok(await s.admin.put(`/projects/${h.project}/permissions/dataonly@ana.org`, { role_ids: [role] }));
    expect((await dataOnly.get(`/projects/${h.project}`)).status).toBe(200);
    expect((await dataOnly.get(`/projects/${h.project}/sessions/analyses`)).status).toBe(403);
    const ro = await makeUser(s, 'ro@ana.org');
    ok(await s.admin.put(`/projects/${h.project}/permissions/ro@ana.org`, { role_ids: ['ro'] }));
    expect(labels(ok(await ro.get(`/projects/${h.project}/sessions/analyses`)))).toEqual(['on-ses-02', 'on-sessions']);
    // Their role is on this project only: the other project's analyses stay hidden.
    expect((await ro.get(`/projects/${other.project}/all/analyses`)).status).toBe(404);
  });
});

describe('a new project starts with its group permissions', () => {
  it('copies them as project roles that resolve through /roles; group admins still administer it', async () => {
    const gadmin = await makeUser(s, 'gadmin@perm.org');
    await makeUser(s, 'gro@perm.org');
    ok(await s.admin.post('/groups', { _id: 'perm-lab', label: 'perm lab' }));
    ok(await s.admin.post('/groups/perm-lab/permissions', { _id: 'gadmin@perm.org', access: 'admin' }));
    ok(await s.admin.post('/groups/perm-lab/permissions', { _id: 'gro@perm.org', access: 'ro' }));
    const before = ok(await s.admin.post('/projects', { group: 'perm-lab', label: 'Study' }))._id;

    const admin = ok(await s.admin.get(`/projects/${before}/permissions/gadmin@perm.org`));
    expect(admin).toEqual({ _id: 'gadmin@perm.org', role_ids: ['admin'] });
    expect(ok(await s.admin.get(`/projects/${before}/permissions/gro@perm.org`))).toEqual({ _id: 'gro@perm.org', role_ids: ['ro'] });
    for (const rid of admin.role_ids) expect(ok(await s.admin.get(`/roles/${rid}`)).actions).toContain('project_permissions_manage');
    expect(ok(await s.admin.get(`/projects/${before}`)).permissions).toEqual(
      expect.arrayContaining([
        { _id: 'gadmin@perm.org', role_ids: ['admin'] },
        { _id: 'gro@perm.org', role_ids: ['ro'] },
      ]),
    );

    // The group admin administers the project, with or without the copy.
    await makeUser(s, 'newbie@perm.org');
    ok(await gadmin.put(`/projects/${before}/permissions/newbie@perm.org`, { role_ids: ['rw'] }));
    ok(await s.admin.del(`/projects/${before}/permissions/gadmin@perm.org`));
    ok(await gadmin.del(`/projects/${before}/permissions/newbie@perm.org`));

    // A snapshot: someone who joins the group later is not copied into the existing project, but acts on it through the group.
    const late = await makeUser(s, 'late@perm.org');
    ok(await s.admin.post('/groups/perm-lab/permissions', { _id: 'late@perm.org', access: 'rw' }));
    expect((await s.admin.get(`/projects/${before}/permissions/late@perm.org`)).status).toBe(404);
    ok(await late.put(`/projects/${before}`, { description: 'edited through group access' }));
    const after = ok(await s.admin.post('/projects', { group: 'perm-lab', label: 'Study 2' }))._id;
    expect(ok(await s.admin.get(`/projects/${after}/permissions/late@perm.org`))).toEqual({ _id: 'late@perm.org', role_ids: ['rw'] });
  });
});
