import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Acquisition, Client, Collection, Group, Session } from '../src/index.js';
import { adminKey, newUserKey, recordingClient, startTestServer, type TestServer, uniq } from './helpers.js';

let s: TestServer;
let fw: Client;
beforeAll(async () => {
  s = await startTestServer();
  fw = new Client(adminKey(s));
});
afterAll(async () => {
  await s?.stop();
});

describe('collections in the SDK', () => {
  it('curates sessions and acquisitions with the body Flywheel sends, and reads them back as objects', async () => {
    const group = await fw.addGroup({ id: uniq('coll') });
    const project = await group.addProject({ label: 'Study' });
    const s1 = await project.addSession({ label: 'ses-01', subject: { label: 'sub-01' } });
    const s2 = await project.addSession({ label: 'ses-02', subject: { label: 'sub-02' } });
    const a1 = await s1.addAcquisition({ label: 'T1w' });
    const a2 = await s2.addAcquisition({ label: 'T1w' });
    const b2 = await s2.addAcquisition({ label: 'T2w' });

    const { fw: rec, requests } = recordingClient(adminKey(s));
    const coll = await rec.addCollection({ label: 'Picked', description: 'for QA' });
    expect(coll).toBeInstanceOf(Collection);
    expect(coll).toMatchObject({
      label: 'Picked',
      description: 'for QA',
      curator: 'admin@sprocket.local',
      permissions: [{ id: 'admin@sprocket.local', role_ids: ['admin'] }],
    });

    await coll.addSessions(s1);
    await coll.addAcquisitions(a2.id);
    const put = requests.filter((r) => r.method === 'PUT');
    expect(put.map((r) => [r.path, r.body])).toEqual([
      [`/collections/${coll.id}`, { contents: { operation: 'add', nodes: [{ _id: s1.id, level: 'session' }] } }],
      [`/collections/${coll.id}`, { contents: { operation: 'add', nodes: [{ _id: a2.id, level: 'acquisition' }] } }],
    ]);

    const sessions = await coll.sessions().find({ sort: 'label:asc' });
    expect(sessions.every((x) => x instanceof Session)).toBe(true);
    expect(sessions.map((x) => x.id)).toEqual([s1.id, s2.id]);
    const acquisitions = await coll.acquisitions().find();
    expect(acquisitions.every((x) => x instanceof Acquisition)).toBe(true);
    expect(acquisitions.map((x) => x.id).sort()).toEqual([a1.id, a2.id].sort());
    expect((await coll.sessionAcquisitions(s2)).map((x) => x.id)).toEqual([a2.id]);
    expect(b2.id).not.toBe(a2.id);

    await coll.removeSessions(s1.id);
    await coll.removeAcquisitions(a2);
    expect(await coll.sessions().find()).toEqual([]);

    await coll.update({ label: 'Picked again' });
    await coll.updateInfo({ reviewer: 'ann' });
    await coll.addTag('qa');
    const reloaded = await fw.getCollection(coll.id);
    expect(reloaded).toMatchObject({ label: 'Picked again', info: { reviewer: 'ann' }, tags: ['qa'] });
    expect((await fw.collections.find('label=Picked again')).map((c) => c.id)).toEqual([coll.id]);
    expect((await fw.lookup(['collections', 'Picked again'])).id).toBe(coll.id);

    // fw.get(id) answers every kind by its own class.
    expect(await fw.get(coll.id)).toBeInstanceOf(Collection);
    expect(await fw.get(group.id)).toBeInstanceOf(Group);
    expect(await fw.get(s1.id)).toBeInstanceOf(Session);

    await coll.delete();
    await expect(fw.getCollection(coll.id)).rejects.toMatchObject({ status: 404 });
  });

  it('shares a collection: a member sees it, and only the sessions they may see', async () => {
    const ann = new Client(await newUserKey(s, 'ann@coll.org'));
    const group = await fw.addGroup({ id: uniq('shared') });
    const hidden = await fw.addGroup({ id: uniq('hidden') });
    const seen = await (await group.addProject({ label: 'Open' })).addSession({ label: 'ses-open', subject: { label: 'a' } });
    const unseen = await (await hidden.addProject({ label: 'Closed' })).addSession({ label: 'ses-closed', subject: { label: 'b' } });
    await group.addPermission({ id: 'ann@coll.org', access: 'ro' });
    const coll = await fw.addCollection({ label: uniq('mixed-') });
    await coll.addSessions(seen, unseen);

    await expect(ann.getCollection(coll.id)).rejects.toMatchObject({ status: 404 });
    expect(await ann.collections.find()).toEqual([]);
    await coll.addPermission({ id: 'ann@coll.org', access: 'ro' });
    expect((await coll.getPermissions()).map((p) => p.id).sort()).toEqual(['admin@sprocket.local', 'ann@coll.org']);
    const mine = await ann.getCollection(coll.id);
    expect((await mine.sessions().find()).map((x) => x.id)).toEqual([seen.id]);
    await expect(mine.addSessions(unseen)).rejects.toMatchObject({ status: 403 });
    await coll.updatePermission('ann@coll.org', { access: 'rw' });
    // Now allowed to change it, Ann still cannot add what she may not see.
    await expect(mine.addSessions(unseen)).rejects.toMatchObject({
      status: 404,
      message: expect.stringContaining('body.contents.nodes[0]'),
    });
    await coll.deletePermission('ann@coll.org');
    await expect(ann.getCollection(coll.id)).rejects.toMatchObject({ status: 404 });
  });
});
