import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

let s: TestServer;
let h: Awaited<ReturnType<typeof makeHierarchy>>;
let analysis: string;
let twin: string;
/** The SDK's default: subjects are part of paths. */
let sdk: Api;
/** An older client: paths go group/project/session/acquisition. */
let legacy: Api;

beforeAll(async () => {
  s = await startTestServer();
  h = await makeHierarchy(s.admin, 'lab');
  sdk = s.admin;
  legacy = new Api(s.url, s.admin.key, {});
  ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'scan.nii.gz', content: 'voxels' }]));
  ok(await s.admin.upload(`/projects/${h.project}/files`, [{ name: 'protocol.pdf', content: 'pdf' }]));
  analysis = ok(await s.admin.post(`/sessions/${h.session}/analyses`, { label: 'qa' }))._id;
  ok(await s.admin.upload(`/analyses/${analysis}/files`, [{ name: 'report.html', content: '<p>' }]));
  // A second acquisition in the session (same-label containers are the 'ambiguous paths' tests').
  twin = ok(await s.admin.post('/acquisitions', { session: h.session, label: 'T2w' }))._id;
});
afterAll(async () => {
  await s?.stop();
});

describe('POST /lookup', () => {
  it('finds every level by label with subjects in the path', async () => {
    const group = ok(await sdk.post('/lookup', { path: ['lab'] }));
    expect(group).toMatchObject({ _id: 'lab', container_type: 'group' });
    expect(ok(await sdk.post('/lookup', { path: ['lab', 'Project'] }))).toMatchObject({
      _id: h.project,
      container_type: 'project',
      label: 'Project',
    });
    expect(ok(await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-01'] }))).toMatchObject({
      _id: h.subject,
      container_type: 'subject',
    });
    expect(ok(await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01'] }))).toMatchObject({
      _id: h.session,
      container_type: 'session',
    });
    const acq = ok(await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01', 'T1w'] }));
    expect(acq).toMatchObject({ _id: h.acquisition, container_type: 'acquisition', info: {} });
    // A single slash-separated string works as well.
    expect(ok(await sdk.post('/lookup', { path: 'lab/Project/sub-01/ses-01' }))._id).toBe(h.session);
  });

  it('skips subjects without X-Accept-Feature: Subject-Container', async () => {
    expect(ok(await legacy.post('/lookup', { path: ['lab', 'Project', 'ses-01'] }))._id).toBe(h.session);
    expect(ok(await legacy.post('/lookup', { path: ['lab', 'Project', 'ses-01', 'T1w'] }))._id).toBe(h.acquisition);
    expect((await legacy.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01'] })).status).toBe(404);
    expect((await sdk.post('/lookup', { path: ['lab', 'Project', 'ses-01'] })).status).toBe(404);
  });

  it('finds files and analyses at any level', async () => {
    const file = ok(await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01', 'T1w', 'files', 'scan.nii.gz'] }));
    expect(file).toMatchObject({
      name: 'scan.nii.gz',
      container_type: 'file',
      size: 6,
      parent_ref: { type: 'acquisition', id: h.acquisition },
    });
    expect(ok(await sdk.post('/lookup', { path: ['lab', 'Project', 'files', 'protocol.pdf'] })).name).toBe('protocol.pdf');
    expect(ok(await legacy.post('/lookup', { path: ['lab', 'Project', 'ses-01', 'T1w', 'files', 'scan.nii.gz'] })).name).toBe(
      'scan.nii.gz',
    );
    const an = ok(await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01', 'analyses', 'qa'] }));
    expect(an).toMatchObject({ _id: analysis, container_type: 'analysis', label: 'qa' });
    const out = ok(await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01', 'analyses', 'qa', 'files', 'report.html'] }));
    expect(out).toMatchObject({ name: 'report.html', container_type: 'file' });
    expect((await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01', 'analyses', 'nope'] })).status).toBe(404);
    expect((await sdk.post('/lookup', { path: ['lab', 'Project', 'files', 'missing.pdf'] })).status).toBe(404);
  });

  it('matches <id:HEX> elements by id', async () => {
    expect(ok(await sdk.post('/lookup', { path: ['lab', `<id:${h.project}>`] }))._id).toBe(h.project);
    expect(ok(await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01', `<id:${twin}>`] }))._id).toBe(twin);
    expect(ok(await sdk.post('/lookup', { path: ['lab', `<id:${h.project}>`, `<id:${h.subject}>`, 'ses-01'] }))._id).toBe(h.session);
    // An id from somewhere else in the tree does not match under the wrong parent.
    expect((await sdk.post('/lookup', { path: ['lab', `<id:${h.session}>`] })).status).toBe(404);
    expect((await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01', '<id:000000000000000000000000>'] })).status).toBe(404);
  });

  it('answers 404 with a message naming the path, hinting at files/ for names with a dot', async () => {
    const missing = await sdk.post('/lookup', { path: ['lab', 'Nope'] });
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    expect(missing.body.message).toContain('lab/Nope');
    const dotted = await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01', 'T1w', 'scan.nii.gz'] });
    expect(dotted.status).toBe(404);
    expect(dotted.body.message).toContain('files/scan.nii.gz');
    expect((await sdk.post('/lookup', { path: ['nogroup'] })).body.message).toContain('nogroup');
    const after = await sdk.post('/lookup', { path: ['lab', 'Project', 'files', 'protocol.pdf', 'extra'] });
    expect(after.status).toBe(400);
    expect(after.body.message).toContain('extra');
    for (const body of [{ path: [] }, { path: '' }, {}, { path: [1, 2] }, { path: 'lab', extra: 1 }, { path: '///' }]) {
      const r = await sdk.post('/lookup', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.message, JSON.stringify(body)).toMatch(/path|extra/);
    }
  });
});

describe('POST /resolve', () => {
  const types = (nodes: any[]) => nodes.map((n) => n.container_type);

  it('returns the path nodes and the children of the last, each with container_type', async () => {
    const root = ok(await sdk.post('/resolve', { path: ['lab'] }));
    expect(types(root.path)).toEqual(['group']);
    expect(root.children.map((c: any) => [c.container_type, c._id])).toEqual([['project', h.project]]);

    const project = ok(await sdk.post('/resolve', { path: ['lab', 'Project'] }));
    expect(types(project.path)).toEqual(['group', 'project']);
    expect(project.children.map((c: any) => [c.container_type, c.label ?? c.name])).toEqual([
      ['subject', 'sub-01'],
      ['file', 'protocol.pdf'],
    ]);

    const acq = ok(await sdk.post('/resolve', { path: ['lab', 'Project', 'sub-01', 'ses-01', 'T1w'] }));
    expect(types(acq.path)).toEqual(['group', 'project', 'subject', 'session', 'acquisition']);
    expect(acq.path.map((n: any) => n._id)).toEqual(['lab', h.project, h.subject, h.session, h.acquisition]);
    expect(acq.children.map((c: any) => [c.container_type, c.name])).toEqual([['file', 'scan.nii.gz']]);

    const session = ok(await sdk.post('/resolve', { path: ['lab', 'Project', 'sub-01', 'ses-01'] }));
    expect(session.children.map((c: any) => c._id)).toEqual([h.acquisition, twin]);
    for (const node of [...session.path, ...session.children]) expect(typeof node.container_type).toBe('string');

    const file = ok(await sdk.post('/resolve', { path: ['lab', 'Project', 'sub-01', 'ses-01', 'T1w', 'files', 'scan.nii.gz'] }));
    expect(types(file.path)).toEqual(['group', 'project', 'subject', 'session', 'acquisition', 'file']);
    expect(file.children).toEqual([]);

    const an = ok(await sdk.post('/resolve', { path: ['lab', 'Project', 'sub-01', 'ses-01', 'analyses', 'qa'] }));
    expect(types(an.path).at(-1)).toBe('analysis');
    expect(an.children.map((c: any) => c.name)).toEqual(['report.html']);
  });

  it('lists sessions under a project without Subject-Container', async () => {
    const project = ok(await legacy.post('/resolve', { path: ['lab', 'Project'] }));
    expect(project.children.filter((c: any) => c.container_type !== 'file').map((c: any) => [c.container_type, c._id])).toEqual([
      ['session', h.session],
    ]);
    const ses = ok(await legacy.post('/resolve', { path: ['lab', 'Project', 'ses-01'] }));
    expect(types(ses.path)).toEqual(['group', 'project', 'session']);
  });

  it('answers 404 for paths that do not exist or that the caller cannot see, and drops hidden children', async () => {
    expect((await sdk.post('/resolve', { path: ['lab', 'Nope'] })).status).toBe(404);
    const outsider = await makeUser(s, 'outsider@lab.org');
    for (const path of [['lab'], ['lab', 'Project'], ['lab', 'Project', 'sub-01', 'ses-01', 'T1w', 'files', 'scan.nii.gz']]) {
      for (const route of ['/lookup', '/resolve']) {
        const r = await outsider.post(route, { path });
        expect(r.status, `${route} ${path.join('/')}`).toBe(404);
        expect(JSON.stringify(r.body)).not.toContain(h.project);
      }
    }
    // With a role on one of two projects, the other is absent from the group's children.
    const other = ok(await s.admin.post('/projects', { group: 'lab', label: 'Secret' }))._id;
    ok(await s.admin.put(`/projects/${h.project}/permissions/outsider@lab.org`, { role_ids: ['ro'] }));
    const seen = ok(await outsider.post('/resolve', { path: ['lab'] }));
    expect(seen.children.map((c: any) => c._id)).toEqual([h.project]);
    expect((await outsider.post('/lookup', { path: ['lab', 'Secret'] })).status).toBe(404);
    expect((await outsider.post('/lookup', { path: ['lab', `<id:${other}>`] })).status).toBe(404);
    expect(ok(await outsider.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01', 'T1w', 'files', 'scan.nii.gz'] })).name).toBe(
      'scan.nii.gz',
    );
    // The admin sees both.
    expect(ok(await sdk.post('/resolve', { path: ['lab'] })).children.map((c: any) => c.label)).toEqual(['Project', 'Secret']);
  });
});

describe('ambiguous paths', () => {
  let repeat: string[];
  let subject: string;
  beforeAll(async () => {
    // Repeat visits with one StudyDescription: two sessions of one subject share a label.
    subject = ok(await s.admin.post('/subjects', { project: h.project, label: 'sub-001' }))._id;
    repeat = [];
    for (const timestamp of ['2024-01-10T09:00:00.000Z', '2024-06-10T09:00:00.000Z']) {
      repeat.push(
        ok(await s.admin.post('/sessions', { project: h.project, subject: { _id: subject }, label: 'Synthetic study', timestamp }))._id,
      );
    }
    ok(await s.admin.post('/acquisitions', { session: repeat[1], label: 'T1w' }));
  });

  it('answers 409 listing every match with its id and dates instead of picking one', async () => {
    for (const route of ['/lookup', '/resolve']) {
      for (const path of [
        ['lab', 'Project', 'sub-001', 'Synthetic study'],
        ['lab', 'Project', 'sub-001', 'Synthetic study', 'T1w'],
      ]) {
        const r = await sdk.post(route, { path });
        expect(r.status, `${route} ${path.join('/')}`).toBe(409);
        expect(r.body.code).toBe('CONFLICT');
        expect(r.body.message).toContain('lab/Project/sub-001/Synthetic study is ambiguous: it matches 2 sessions');
        for (const id of repeat) expect(r.body.message).toContain(id);
        expect(r.body.message).toMatch(/created \d{4}-\d\d-\d\dT.*timestamp 2024-01-10T09:00:00.*timestamp 2024-06-10T09:00:00/);
      }
    }
    // Without subjects in the path the sessions are matched under the project: still two.
    expect((await legacy.post('/lookup', { path: ['lab', 'Project', 'Synthetic study'] })).status).toBe(409);
    // Same-label analyses too.
    for (let i = 0; i < 2; i++) ok(await s.admin.post(`/sessions/${repeat[0]}/analyses`, { label: 'rerun' }));
    const an = await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-001', `<id:${repeat[0]}>`, 'analyses', 'rerun'] });
    expect(an.status).toBe(409);
    expect(an.body.message).toContain('matches 2 analyses');
  });

  it('takes an id where a label goes, bare or as <id:HEX>; a label that looks like an id still wins', async () => {
    for (const [i, id] of repeat.entries()) {
      expect(ok(await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-001', id] }))._id).toBe(id);
      expect(ok(await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-001', `<id:${id}>`] }))._id).toBe(id);
      const res = ok(await sdk.post('/resolve', { path: ['lab', h.project, subject, id] }));
      expect(res.path.map((n: any) => n._id)).toEqual(['lab', h.project, subject, id]);
      expect(res.children.map((c: any) => c.label)).toEqual(i === 1 ? ['T1w'] : []);
    }
    expect(ok(await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-001', repeat[1]!, 'T1w'] })).container_type).toBe('acquisition');
    // An id from elsewhere in the tree does not match under the wrong parent.
    expect((await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-01', repeat[0]!] })).status).toBe(404);
    const hexLabel = 'aaaaaaaaaaaaaaaaaaaaaaaa';
    const labelled = ok(await s.admin.post('/sessions', { project: h.project, subject: { _id: subject }, label: hexLabel }))._id;
    expect(ok(await sdk.post('/lookup', { path: ['lab', 'Project', 'sub-001', hexLabel] }))._id).toBe(labelled);
  });
});
