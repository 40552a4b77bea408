import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

let s: TestServer;
let a: Awaited<ReturnType<typeof makeHierarchy>>;
let b: Awaited<ReturnType<typeof makeHierarchy>>;
beforeAll(async () => {
  s = await startTestServer();
  a = await makeHierarchy(s.admin, 'lab');
  b = await makeHierarchy(s.admin, 'other');
});
afterAll(async () => {
  await s?.stop();
});

describe('moving sessions and acquisitions (PUT with subject / session)', () => {
  it('moves a session with its acquisitions, analyses and files into a subject of another project', async () => {
    ok(await s.admin.upload(`/acquisitions/${a.acquisition}/files`, [{ name: 'scan.nii.gz', content: 'voxels' }]));
    const analysis = ok(await s.admin.post(`/acquisitions/${a.acquisition}/analyses`, { label: 'qa' }))._id;
    ok(await s.admin.put(`/sessions/${a.session}`, { subject: { _id: b.subject } }));
    const ses = ok(await s.admin.get(`/sessions/${a.session}`));
    expect(ses.parents).toMatchObject({ group: 'other', project: b.project, subject: b.subject });
    expect(ok(await s.admin.get(`/acquisitions/${a.acquisition}`)).parents).toMatchObject({
      group: 'other',
      project: b.project,
      subject: b.subject,
      session: a.session,
    });
    expect(ok(await s.admin.get(`/analyses/${analysis}`)).parents).toMatchObject({ project: b.project, subject: b.subject });
    // Both sessions are 'ses-01' under other/Project/sub-01 now: the label is ambiguous, the id is not.
    expect((await s.admin.post('/lookup', { path: ['other', 'Project', 'sub-01', 'ses-01'] })).status).toBe(409);
    expect(
      ok(await s.admin.post('/lookup', { path: ['other', 'Project', 'sub-01', a.session, 'T1w', 'files', 'scan.nii.gz'] })).parent_ref.id,
    ).toBe(a.acquisition);
    expect((await s.admin.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01'] })).status).toBe(404);
    expect(
      ok(await s.admin.get(`/projects/${b.project}/sessions`))
        .map((x: any) => x._id)
        .sort(),
    ).toEqual([a.session, b.session].sort());
    expect(ok(await s.admin.get(`/projects/${a.project}/acquisitions`))).toEqual([]);
  });

  it('moves an acquisition into another session', async () => {
    ok(await s.admin.put(`/acquisitions/${a.acquisition}`, { session: b.session }));
    expect(ok(await s.admin.get(`/acquisitions/${a.acquisition}`)).parents).toMatchObject({ session: b.session, subject: b.subject });
    expect(
      ok(await s.admin.get(`/sessions/${b.session}/acquisitions`))
        .map((x: any) => x._id)
        .sort(),
    ).toEqual([a.acquisition, b.acquisition].sort());
  });

  it('needs the right to take it out and to put it in; bad targets are refused naming them', async () => {
    const carol = await makeUser(s, 'carol@lab.org');
    ok(await s.admin.put(`/projects/${b.project}/permissions/carol@lab.org`, { role_ids: ['rw'] }));
    const elsewhere = ok(await s.admin.post('/subjects', { project: a.project, label: 'sub-09' }))._id;
    // Carol may write in 'other' but has no role in 'lab': the target is invisible to her (404).
    expect((await carol.put(`/sessions/${a.session}`, { subject: { _id: elsewhere } })).status).toBe(404);
    expect(ok(await s.admin.get(`/sessions/${a.session}`)).parents.subject).toBe(b.subject);
    const bad = await s.admin.put(`/sessions/${a.session}`, { subject: { _id: 'nope' } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/subject/);
    expect((await s.admin.put(`/acquisitions/${a.acquisition}`, { session: '0123456789abcdef01234567' })).status).toBe(404);
    expect((await s.admin.put(`/subjects/${b.subject}`, { project: a.project })).status).toBe(400);
  });
});
