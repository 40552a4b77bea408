import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHierarchy, startTestServer, type TestServer } from './helpers.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.stop();
});

describe('data hierarchy', () => {
  it('creates, reads, lists, modifies and deletes every level', async () => {
    const api = s.admin;
    const h = await makeHierarchy(api, 'lab');

    const project = (await api.get(`/projects/${h.project}`)).body;
    expect(project).toMatchObject({ _id: h.project, label: 'Project', group: 'lab', parents: { group: 'lab' }, info: {}, files: [] });

    const session = (await api.get(`/sessions/${h.session}`)).body;
    expect(session).toMatchObject({
      label: 'ses-01',
      project: h.project,
      subject: { _id: h.subject, label: 'sub-01', code: 'sub-01' },
      parents: { group: 'lab', project: h.project, subject: h.subject },
    });
    const acq = (await api.get(`/acquisitions/${h.acquisition}`)).body;
    expect(acq.parents).toEqual({ group: 'lab', project: h.project, subject: h.subject, session: h.session });
    expect(acq.session).toBe(h.session);

    expect((await api.get(`/groups/lab/projects`)).body.map((p: any) => p._id)).toEqual([h.project]);
    expect((await api.get(`/projects/${h.project}/subjects`)).body.map((p: any) => p._id)).toEqual([h.subject]);
    expect((await api.get(`/projects/${h.project}/sessions`)).body.map((p: any) => p._id)).toEqual([h.session]);
    expect((await api.get(`/subjects/${h.subject}/sessions`)).body.map((p: any) => p._id)).toEqual([h.session]);
    expect((await api.get(`/sessions/${h.session}/acquisitions`)).body.map((p: any) => p._id)).toEqual([h.acquisition]);
    expect((await api.get(`/projects/${h.project}/acquisitions`)).body.map((p: any) => p._id)).toEqual([h.acquisition]);

    expect((await api.put(`/subjects/${h.subject}`, { sex: 'female', type: 'human', age: 1000 })).status).toBe(200);
    expect((await api.get(`/subjects/${h.subject}`)).body).toMatchObject({ sex: 'female', type: 'human', age: 1000 });
    expect((await api.put(`/sessions/${h.session}`, { uid: '1.2.3', timestamp: '2020-01-02T05:04:05+02:00', operator: 'me' })).status).toBe(
      200,
    );
    // Stored as the same instant in UTC, so filters across time zones compare correctly.
    expect((await api.get(`/sessions/${h.session}`)).body).toMatchObject({
      uid: '1.2.3',
      timestamp: '2020-01-02T03:04:05.000Z',
      operator: 'me',
    });
    expect((await api.put(`/sessions/${h.session}`, { timestamp: 'yesterday-ish' })).status).toBe(400);

    // info set/delete/replace
    expect((await api.post(`/acquisitions/${h.acquisition}/info`, { set: { a: 1, nested: { b: 2, c: 3 } } })).status).toBe(200);
    expect((await api.post(`/acquisitions/${h.acquisition}/info`, { delete: ['nested.b'] })).status).toBe(200);
    expect((await api.get(`/acquisitions/${h.acquisition}`)).body.info).toEqual({ a: 1, nested: { c: 3 } });
    expect((await api.post(`/acquisitions/${h.acquisition}/info`, { replace: { z: true } })).status).toBe(200);
    expect((await api.get(`/acquisitions/${h.acquisition}`)).body.info).toEqual({ z: true });
    // list projections leave info out
    const listed = (await api.get(`/sessions/${h.session}/acquisitions`)).body[0];
    expect(listed.info).toBeUndefined();
    expect(listed.info_exists).toBe(true);

    // tags and notes
    expect((await api.post(`/sessions/${h.session}/tags`, { value: 'qc' })).status).toBe(200);
    expect((await api.post(`/sessions/${h.session}/tags`, { value: 'qc' })).status).toBe(409);
    const note = (await api.post(`/sessions/${h.session}/notes`, { text: 'motion in run 2' })).body;
    const withMeta = (await api.get(`/sessions/${h.session}`)).body;
    expect(withMeta.tags).toEqual(['qc']);
    expect(withMeta.notes[0]).toMatchObject({ _id: note._id, text: 'motion in run 2', user: 'admin@sprocket.local' });
    expect((await api.del(`/sessions/${h.session}/tags/qc`)).status).toBe(200);
    expect((await api.del(`/sessions/${h.session}/notes/${note._id}`)).status).toBe(200);

    // delete cascades
    expect((await api.del(`/subjects/${h.subject}`)).status).toBe(200);
    expect((await api.get(`/sessions/${h.session}`)).status).toBe(404);
    expect((await api.get(`/acquisitions/${h.acquisition}`)).status).toBe(404);
  });

  it('creates a session with a new subject by label and refuses duplicates where Flywheel does', async () => {
    const api = s.admin;
    expect((await api.post('/groups', { _id: 'dup', label: 'Dup' })).status).toBe(200);
    expect((await api.post('/groups', { _id: 'dup', label: 'Dup' })).status).toBe(409);
    const project = (await api.post('/projects', { group: 'dup', label: 'P' })).body._id;
    expect((await api.post('/projects', { group: 'dup', label: 'P' })).status).toBe(409);
    const ses = (await api.post('/sessions', { project, label: 's1', subject: { label: 'subj-9', sex: 'male' } })).body._id;
    const doc = (await api.get(`/sessions/${ses}`)).body;
    expect(doc.subject.label).toBe('subj-9');
    expect((await api.get(`/subjects/${doc.subject._id}`)).body.sex).toBe('male');
    expect((await api.post('/subjects', { project, code: 'subj-9' })).status).toBe(409);
  });

  it('lists analyses on their parent', async () => {
    const api = s.admin;
    const h = await makeHierarchy(api);
    const a = (await api.post(`/sessions/${h.session}/analyses`, { label: 'manual QC', description: 'by hand' })).body._id;
    const list = (await api.get(`/sessions/${h.session}/analyses`)).body;
    expect(list.map((x: any) => x._id)).toEqual([a]);
    const doc = (await api.get(`/analyses/${a}`)).body;
    expect(doc).toMatchObject({ label: 'manual QC', parent: { type: 'session', id: h.session }, description: 'by hand' });
    expect((await api.get(`/sessions/${h.session}`)).body.analyses.map((x: any) => x._id)).toEqual([a]);
  });
});
