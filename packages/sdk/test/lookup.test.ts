import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Acquisition, Analysis, ApiError, type Client, FileEntry, Group, Project, Session, Subject } from '../src/index.js';
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

describe('lookup and resolve', () => {
  it('returns the typed object a path names', async () => {
    const gid = uniq('look');
    const group = await fw.addGroup({ id: gid });
    const project = await group.addProject({ label: 'Proj' });
    const subject = await project.addSubject({ label: 'sub-01' });
    const session = await subject.addSession({ label: 'ses-01' });
    const acq = await session.addAcquisition({ label: 'T1w' });
    await acq.uploadFile({ name: 'a.nii.gz', data: 'nifti' });
    await acq.updateInfo({ te: 2.3 });
    await session.addAnalysis({ label: 'my analysis' });

    const g = await fw.lookup(gid);
    expect(g).toBeInstanceOf(Group);
    expect(g.id).toBe(gid);
    expect(await fw.lookup(`${gid}/Proj`)).toBeInstanceOf(Project);
    expect(await fw.lookup(`${gid}/Proj/sub-01`)).toBeInstanceOf(Subject);
    const ses = await fw.lookup<Session>(`${gid}/Proj/sub-01/ses-01`);
    expect(ses).toBeInstanceOf(Session);
    expect(ses.id).toBe(session.id);
    const a = await fw.lookup<Acquisition>(['', gid, 'Proj', 'sub-01', 'ses-01', 'T1w'].join('/'));
    expect(a).toBeInstanceOf(Acquisition);
    // lookup returns the full document, info included
    expect(a.info).toEqual({ te: 2.3 });

    const f = await fw.lookup<FileEntry>(`${gid}/Proj/sub-01/ses-01/T1w/files/a.nii.gz`);
    expect(f).toBeInstanceOf(FileEntry);
    expect(f).toMatchObject({ name: 'a.nii.gz', type: 'nifti' });
    // a looked-up file knows its container, and can be read through it
    expect(f.parent).toBeInstanceOf(Acquisition);
    expect(f.parent.id).toBe(acq.id);
    expect((await f.read()).toString()).toBe('nifti');
    expect(f.ref()).toEqual({ type: 'acquisition', id: acq.id, name: 'a.nii.gz' });

    expect(await fw.lookup(`${gid}/Proj/sub-01/ses-01/analyses/my analysis`)).toBeInstanceOf(Analysis);

    const r = await fw.resolve(`${gid}/Proj/sub-01/ses-01/T1w`);
    expect(r.path.map((x) => x.constructor.name)).toEqual(['Group', 'Project', 'Subject', 'Session', 'Acquisition']);
    expect(r.children).toHaveLength(1);
    expect(r.children[0]).toBeInstanceOf(FileEntry);
    expect((await fw.resolve(`${gid}/Proj`)).children.map((c) => (c as Subject).label)).toEqual(['sub-01']);

    const err = await fw.lookup(`${gid}/Proj/nobody`).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 404, code: 'NOT_FOUND', method: 'POST', url: `${s.url}/lookup` });
  });
});
