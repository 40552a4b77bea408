import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Acquisition, Analysis, type Client, Group, Project, SdkError, Session, Subject } from '../src/index.js';
import { adminKey, recordingClient, startTestServer, type TestServer, uniq } from './helpers.js';

let s: TestServer;
let fw: Client;
beforeAll(async () => {
  s = await startTestServer();
  fw = recordingClient(adminKey(s)).fw;
});
afterAll(async () => {
  await s?.stop();
});

describe('containers through objects', () => {
  it('builds a hierarchy, edits it and reads it back as typed objects', async () => {
    const me = await fw.getCurrentUser();
    expect(me.roles).toContain('site_admin');
    expect((await fw.getConfig()).site.api_url).toBe(s.url);
    expect((await fw.getVersion()).cli_version).toEqual(expect.any(String));

    const gid = uniq('lab');
    const group = await fw.addGroup({ id: gid, label: 'The Lab' });
    expect(group).toBeInstanceOf(Group);
    expect(group).toMatchObject({ id: gid, label: 'The Lab' });
    expect(group.permissions).toEqual([{ id: me.id, access: 'admin' }]);

    const project = await group.addProject({ label: 'Anxiety', description: 'a study' });
    expect(project).toBeInstanceOf(Project);
    expect(project).toMatchObject({ label: 'Anxiety', group: gid, description: 'a study', parents: { group: gid }, info: {}, files: [] });

    const subject = await project.addSubject({ label: 'sub-01', type: 'human', sex: 'female' });
    expect(subject).toBeInstanceOf(Subject);
    expect(subject).toMatchObject({ label: 'sub-01', code: 'sub-01', sex: 'female', project: project.id });

    const session = await subject.addSession({ label: 'ses-01' });
    expect(session).toBeInstanceOf(Session);
    expect(session.subject).toBeInstanceOf(Subject);
    expect(session.subject).toMatchObject({ id: subject.id, label: 'sub-01' });
    expect(session.parents).toEqual({ group: gid, project: project.id, subject: subject.id });

    const acq = await session.addAcquisition({ label: 'T1w' });
    expect(acq).toBeInstanceOf(Acquisition);
    expect(acq).toMatchObject({
      label: 'T1w',
      session: session.id,
      parents: { group: gid, project: project.id, subject: subject.id, session: session.id },
    });

    // A session added straight to a project makes (or finds) its subject.
    const s2 = await project.addSession({ label: 'ses-02', subject: { label: 'sub-02' } });
    expect(s2.subject.label).toBe('sub-02');

    // update, info, tags, notes
    await subject.update({ age: 31 * 365 * 86400, cohort: 'Study' });
    expect(subject.age).toBe(31 * 365 * 86400);
    await subject.updateInfo({ handedness: 'left', scores: { a: 1, b: 2 } });
    await subject.deleteInfo('scores.a');
    await subject.reload();
    expect(subject).toMatchObject({ cohort: 'Study', info: { handedness: 'left', scores: { b: 2 } } });
    await subject.replaceInfo({ only: true });
    expect((await fw.getSubject(subject.id)).info).toEqual({ only: true });

    await acq.addTag('qc-pass');
    const noteId = await acq.addNote('motion in run 2');
    await acq.reload();
    expect(acq.tags).toEqual(['qc-pass']);
    expect(acq.notes).toEqual([expect.objectContaining({ id: noteId, text: 'motion in run 2', user: me.id })]);
    await acq.deleteTag('qc-pass');
    await acq.deleteNote(noteId);
    expect((await fw.getAcquisition(acq.id)).tags).toEqual([]);

    // child finders
    expect((await group.projects.find()).map((p) => p.id)).toEqual([project.id]);
    expect((await project.subjects.find()).map((x) => x.label)).toEqual(['sub-01', 'sub-02']);
    expect((await project.sessions.find()).map((x) => x.label)).toEqual(['ses-01', 'ses-02']);
    expect((await subject.sessions.find()).map((x) => x.id)).toEqual([session.id]);
    expect((await session.acquisitions.find()).map((x) => x.id)).toEqual([acq.id]);
    expect((await project.acquisitions.find()).map((x) => x.id)).toEqual([acq.id]);
    expect((await subject.acquisitions.find()).map((x) => x.id)).toEqual([acq.id]);
    // list projections leave info out; reload brings it
    const listed = (await project.subjects.find('label=sub-01'))[0]!;
    expect(listed.info).toBeUndefined();
    expect((await listed.reload()).info).toEqual({ only: true });

    // any container by id comes back as its own class
    expect(await fw.get(acq.id)).toBeInstanceOf(Acquisition);
    expect(await fw.get(project.id)).toBeInstanceOf(Project);

    // objects serialise like API documents
    expect(JSON.parse(JSON.stringify(project))).toMatchObject({ _id: project.id, label: 'Anxiety' });

    // analyses hang off any level
    const analysis = await session.addAnalysis({ label: 'hand-made', description: 'no job' });
    expect(analysis).toBeInstanceOf(Analysis);
    expect(analysis.parent).toEqual({ type: 'session', id: session.id });
    expect((await session.analyses.find()).map((a) => a.id)).toEqual([analysis.id]);
    await analysis.update({ label: 'renamed' });
    expect((await fw.getAnalysis(analysis.id)).label).toBe('renamed');

    // delete a subtree
    await s2.subject.delete();
    expect((await project.subjects.find()).map((x) => x.label)).toEqual(['sub-01']);
    await group.update({ label: 'Renamed Lab' });
    await group.addTag('imaging');
    expect(await fw.getGroup(gid)).toMatchObject({ label: 'Renamed Lab', tags: ['imaging'] });
  });

  it('finds, finds first, finds exactly one, and iterates past one page', async () => {
    const { fw, requests } = recordingClient(adminKey(s));
    const group = await fw.addGroup({ id: uniq('paging') });
    const project = await group.addProject({ label: 'Many' });
    const session = await project.addSession({ label: 'ses' });
    const n = 260;
    for (let i = 0; i < n; i++) await s.admin.post('/acquisitions', { session: session.id, label: `acq-${String(i).padStart(3, '0')}` });

    requests.length = 0;
    const seen: string[] = [];
    for await (const a of session.acquisitions.iter()) seen.push(a.label);
    expect(seen).toHaveLength(n);
    expect(new Set(seen).size).toBe(n);
    // Flywheel's paging: limit=250, then after_id=<last id>, until an empty page.
    const urls = requests.map((r) => new URL(r.url));
    expect(urls).toHaveLength(3);
    expect(urls.map((u) => u.searchParams.get('limit'))).toEqual(['250', '250', '250']);
    expect(urls[0]!.searchParams.has('after_id')).toBe(false);
    expect(urls[1]!.searchParams.get('after_id')).toMatch(/^[0-9a-f]{24}$/);

    // a finder is itself async-iterable
    let count = 0;
    for await (const _ of session.acquisitions) count++;
    expect(count).toBe(n);

    expect((await session.acquisitions.find()).length).toBe(n);
    expect((await session.acquisitions.find({ limit: 5 })).length).toBe(5);
    const sorted = await session.acquisitions.find({ sort: 'label:desc' });
    expect(sorted.length).toBe(n);
    expect(sorted[0]!.label).toBe('acq-259');

    expect((await fw.projects.findFirst(`label=Many`, `group=${group.id}`))?.id).toBe(project.id);
    expect(await fw.projects.findFirst('label=No such project')).toBeUndefined();
    expect((await session.acquisitions.findOne('label=acq-007')).label).toBe('acq-007');
    await expect(session.acquisitions.findOne('label=nothing')).rejects.toThrow(SdkError);
    await expect(session.acquisitions.findOne('label=~acq-00')).rejects.toThrow(/more than one/);
    expect((await session.acquisitions.find('label=~^acq-25')).map((a) => a.label)).toEqual(
      Array.from({ length: 10 }, (_, i) => `acq-25${i}`),
    );

    // top-level finders page the same way
    const groups: string[] = [];
    for await (const g of fw.groups.iter()) groups.push(g.id);
    expect(groups).toContain(group.id);
    const users = await fw.users.find();
    expect(users.map((u) => u.id)).toContain((await fw.getCurrentUser()).id);
  });
});
