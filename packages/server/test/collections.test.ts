import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Api, makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

/**
 * Collections over REST with several users. Group `c1` (hierarchy H1, whose session has two
 * acquisitions) and group `c2` (H2). Alice may write in both groups and curates the collection;
 * Bob reads `c1` only; Carol has no access anywhere.
 */

let s: TestServer;
let alice: Api;
let bob: Api;
let carol: Api;
let h1: Awaited<ReturnType<typeof makeHierarchy>> & { acq2: string };
let h2: Awaited<ReturnType<typeof makeHierarchy>>;
let coll: string;

const ids = (r: { body: { _id: string }[] }) => r.body.map((d) => d._id).sort();
const sorted = (...xs: string[]) => [...xs].sort();

beforeAll(async () => {
  s = await startTestServer();
  alice = await makeUser(s, 'alice@coll.org');
  bob = await makeUser(s, 'bob@coll.org');
  carol = await makeUser(s, 'carol@coll.org');
  const a = await makeHierarchy(s.admin, 'c1');
  const acq2 = ok(await s.admin.post('/acquisitions', { session: a.session, label: 'T2w' }))._id as string;
  h1 = { ...a, acq2 };
  h2 = await makeHierarchy(s.admin, 'c2');
  ok(await s.admin.post('/groups/c1/permissions', { _id: 'alice@coll.org', access: 'rw' }));
  ok(await s.admin.post('/groups/c2/permissions', { _id: 'alice@coll.org', access: 'rw' }));
  ok(await s.admin.post('/groups/c1/permissions', { _id: 'bob@coll.org', access: 'ro' }));
});

afterAll(async () => {
  await s?.stop();
});

describe('collections', () => {
  it('a user creates one and becomes its curator, with the admin role', async () => {
    const r = await alice.post('/collections', {
      label: 'QA failures',
      description: 'to look at again',
      info: { why: 'motion' },
      tags: ['qa'],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    coll = r.body._id;
    const doc = ok(await alice.get(`/collections/${coll}`));
    expect(doc).toMatchObject({
      _id: coll,
      container_type: 'collection',
      label: 'QA failures',
      description: 'to look at again',
      curator: 'alice@coll.org',
      info: { why: 'motion' },
      info_exists: true,
      tags: ['qa'],
      permissions: [{ _id: 'alice@coll.org', role_ids: ['admin'] }],
    });
    // Labels follow the label rules of containers: no control characters.
    const bad = await alice.post('/collections', { label: 'x\u001b[2J' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/body\.label/);
  });

  it('adds sessions and acquisitions through PUT contents; membership is live', async () => {
    const r = await alice.put(`/collections/${coll}`, {
      contents: {
        operation: 'add',
        nodes: [
          { _id: h1.session, level: 'session' },
          { _id: h2.acquisition, level: 'acquisition' },
        ],
      },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(ids(await alice.get(`/collections/${coll}/sessions`))).toEqual(sorted(h1.session, h2.session));
    expect(ids(await alice.get(`/collections/${coll}/acquisitions`))).toEqual(sorted(h1.acquisition, h1.acq2, h2.acquisition));
    // The `session` parameter narrows acquisitions to one session.
    expect(ids(await alice.get(`/collections/${coll}/acquisitions?session=${h2.session}`))).toEqual([h2.acquisition]);
    // Adding again changes nothing.
    ok(await alice.put(`/collections/${coll}`, { contents: { operation: 'add', nodes: [{ _id: h1.session, level: 'session' }] } }));
    expect(ids(await alice.get(`/collections/${coll}/sessions`))).toEqual(sorted(h1.session, h2.session));
    // Lists take filters and the envelope like every listing.
    const filtered = await alice.get(`/collections/${coll}/sessions?filter=label=ses-01&limit=1`, { 'X-Accept-Feature': 'pagination' });
    expect(filtered.body).toMatchObject({ total: 2, count: 1 });
  });

  it('users without a role on it see nothing of it (404, as for a missing one)', async () => {
    for (const api of [bob, carol]) {
      expect((await api.get(`/collections/${coll}`)).status).toBe(404);
      expect((await api.get(`/collections/${coll}/sessions`)).status).toBe(404);
      expect((await api.get(`/containers/${coll}`)).status).toBe(404);
      expect(ok(await api.get('/collections'))).toEqual([]);
      const put = await api.put(`/collections/${coll}`, { label: 'mine now' });
      expect(put.status).toBe(404);
      expect((await api.del(`/collections/${coll}`)).status).toBe(404);
    }
    const missing = await alice.get('/collections/0123456789abcdef01234567');
    expect(missing.status).toBe(404);
    expect((await bob.get(`/collections/${coll}`)).body.message).toBe(missing.body.message.replace('0123456789abcdef01234567', coll));
  });

  it('a reader lists only the members in projects they may see; a role on the collection opens no data', async () => {
    ok(await alice.post(`/collections/${coll}/permissions`, { _id: 'bob@coll.org', access: 'ro' }));
    expect(ok(await bob.get('/collections')).map((c: { _id: string }) => c._id)).toEqual([coll]);
    expect(ids(await bob.get(`/collections/${coll}/sessions`))).toEqual([h1.session]);
    expect(ids(await bob.get(`/collections/${coll}/acquisitions`))).toEqual(sorted(h1.acquisition, h1.acq2));
    // Carol, given a role on the collection, sees it but none of its members.
    ok(await alice.post(`/collections/${coll}/permissions`, { _id: 'carol@coll.org', role_ids: ['ro'] }));
    expect(ok(await carol.get(`/collections/${coll}`)).label).toBe('QA failures');
    expect(ok(await carol.get(`/collections/${coll}/sessions`))).toEqual([]);
    expect((await carol.get(`/sessions/${h1.session}`)).status).toBe(404);
    // Read-only roles cannot change it.
    const put = await bob.put(`/collections/${coll}`, {
      contents: { operation: 'remove', nodes: [{ _id: h1.session, level: 'session' }] },
    });
    expect(put.status).toBe(403);
    expect(put.body.message).toMatch(/containers_modify_metadata on collection/);
    expect((await bob.del(`/collections/${coll}`)).status).toBe(403);
    expect((await bob.post(`/collections/${coll}/permissions`, { _id: 'carol@coll.org', access: 'admin' })).status).toBe(403);
    ok(await alice.del(`/collections/${coll}/permissions/carol@coll.org`));
    expect((await carol.get(`/collections/${coll}`)).status).toBe(404);
    // The curator stays an admin of it without a permission row.
    ok(await alice.del(`/collections/${coll}/permissions/alice@coll.org`));
    expect(ok(await alice.get('/collections')).map((c: { _id: string }) => c._id)).toEqual([coll]);
    ok(await alice.put(`/collections/${coll}/permissions/alice@coll.org`, { access: 'admin' }));
  });

  it('refuses bad nodes naming the node, and changes nothing then', async () => {
    const before = ids(await alice.get(`/collections/${coll}/acquisitions`));
    const put = (nodes: unknown[], who = alice) => who.put(`/collections/${coll}`, { contents: { operation: 'add', nodes } });

    let r = await put([
      { _id: h1.session, level: 'session' },
      { _id: '0123456789abcdef01234567', level: 'acquisition' },
    ]);
    expect(r.status).toBe(404);
    expect(r.body.message).toBe('body.contents.nodes[1]: acquisition 0123456789abcdef01234567 not found');

    r = await put([{ _id: h2.session, level: 'acquisition' }]);
    expect(r.status).toBe(400);
    expect(r.body.message).toBe(`body.contents.nodes[0]: ${h2.session} is a session, not a acquisition`);

    r = await put([{ _id: h1.project, level: 'project' }]);
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(/body\.contents\.nodes\[0\]\.level/);

    r = await put([{ _id: 'not-an-id', level: 'session' }]);
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(/body\.contents\.nodes\[0\]\._id/);

    r = await alice.put(`/collections/${coll}`, { contents: { operation: 'merge', nodes: [] } });
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(/body\.contents\.operation/);

    // A node the caller may not see is reported exactly like a missing one.
    ok(await alice.put(`/collections/${coll}/permissions/bob@coll.org`, { role_ids: ['rw'] }));
    r = await put([{ _id: h2.session, level: 'session' }], bob);
    expect(r.status).toBe(404);
    expect(r.body.message).toBe(`body.contents.nodes[0]: session ${h2.session} not found`);

    const many = Array.from({ length: 10_001 }, () => ({ _id: h1.session, level: 'session' }));
    r = await put(many);
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(/body\.contents\.nodes/);

    expect(ids(await alice.get(`/collections/${coll}/acquisitions`))).toEqual(before);
  });

  it('removes sessions and acquisitions, splitting a session when one of its acquisitions goes', async () => {
    // h1.acquisition is in only through h1's session: its sibling stays, and so does the session.
    ok(
      await alice.put(`/collections/${coll}`, {
        contents: { operation: 'remove', nodes: [{ _id: h1.acquisition, level: 'acquisition' }] },
      }),
    );
    expect(ids(await alice.get(`/collections/${coll}/acquisitions`))).toEqual(sorted(h1.acq2, h2.acquisition));
    expect(ids(await alice.get(`/collections/${coll}/sessions`))).toEqual(sorted(h1.session, h2.session));
    // A session goes with the acquisitions of it that were added on their own.
    ok(await alice.put(`/collections/${coll}`, { contents: { operation: 'remove', nodes: [{ _id: h2.session, level: 'session' }] } }));
    expect(ids(await alice.get(`/collections/${coll}/sessions`))).toEqual([h1.session]);
    expect(ids(await alice.get(`/collections/${coll}/acquisitions`))).toEqual([h1.acq2]);
    // The data itself is untouched.
    expect((await alice.get(`/acquisitions/${h2.acquisition}`)).status).toBe(200);
  });

  it('deleting a container takes it out of every collection', async () => {
    ok(await alice.put(`/collections/${coll}`, { contents: { operation: 'add', nodes: [{ _id: h2.session, level: 'session' }] } }));
    ok(await s.admin.del(`/acquisitions/${h1.acq2}`));
    expect(ids(await alice.get(`/collections/${coll}/acquisitions`))).toEqual([h2.acquisition]);
    expect(ids(await alice.get(`/collections/${coll}/sessions`))).toEqual([h2.session]);
    ok(await s.admin.del(`/projects/${h2.project}`));
    expect(ok(await alice.get(`/collections/${coll}/sessions`))).toEqual([]);
    // The rows went too: a new container can never inherit a membership.
    const again = ok(await alice.get(`/collections/${coll}/acquisitions`));
    expect(again).toEqual([]);
  });

  it('modifies label, description, info, tags and notes', async () => {
    ok(await alice.put(`/collections/${coll}`, { label: 'QA', description: 'fewer' }));
    ok(await alice.post(`/collections/${coll}/info`, { set: { reviewed: true } }));
    ok(await alice.post(`/collections/${coll}/tags`, { value: 'motion' }));
    expect((await alice.post(`/collections/${coll}/tags`, { value: 'motion' })).status).toBe(409);
    const note = ok(await alice.post(`/collections/${coll}/notes`, { text: 'check sub-01' }))._id;
    let doc = ok(await alice.get(`/collections/${coll}`));
    expect(doc).toMatchObject({ label: 'QA', description: 'fewer', info: { why: 'motion', reviewed: true }, tags: ['qa', 'motion'] });
    expect(doc.notes).toMatchObject([{ _id: note, text: 'check sub-01', user: 'alice@coll.org' }]);
    ok(await alice.del(`/collections/${coll}/tags/qa`));
    ok(await alice.del(`/collections/${coll}/notes/${note}`));
    doc = ok(await alice.get(`/collections/${coll}`));
    expect(doc.tags).toEqual(['motion']);
    expect(doc.notes).toEqual([]);
    expect((await alice.put(`/collections/${coll}`, {})).status).toBe(400);
    expect((await alice.put(`/collections/${coll}`, { curator: 'carol@coll.org' })).status).toBe(400);
  });

  it('lists with filters and sorts; curators', async () => {
    const other = ok(await alice.post('/collections', { label: 'Another' }))._id;
    const mine = ok(await alice.get('/collections?sort=label:asc'));
    expect(mine.map((c: { label: string }) => c.label)).toEqual(['Another', 'QA']);
    expect(mine[0].info).toBeUndefined();
    expect(ok(await alice.get('/collections?filter=label=~^Q')).map((c: { _id: string }) => c._id)).toEqual([coll]);
    expect(ok(await alice.get('/collections?filter=tags=motion')).map((c: { _id: string }) => c._id)).toEqual([coll]);
    expect((await alice.get('/collections?filter=bogus=1')).status).toBe(400);
    expect(ok(await s.admin.get('/collections')).length).toBe(2);
    expect(ok(await alice.get('/collections/curators'))).toEqual([{ _id: 'alice@coll.org', firstname: 'Test', lastname: 'alice' }]);
    expect(ok(await carol.get('/collections/curators'))).toEqual([]);
    ok(await alice.del(`/collections/${other}`));
  });

  it('GET /containers/{id} finds collections and groups too, saying what each is', async () => {
    expect(ok(await alice.get(`/containers/${coll}`))).toMatchObject({ _id: coll, container_type: 'collection', label: 'QA' });
    expect(ok(await bob.get('/containers/c1'))).toMatchObject({ _id: 'c1', container_type: 'group', label: 'c1' });
    expect(ok(await alice.get(`/containers/${h1.session}`))).toMatchObject({ _id: h1.session, container_type: 'session' });
    // A group the caller may not see, or none at all: the same 404.
    const hidden = await carol.get('/containers/c1');
    expect(hidden.status).toBe(404);
    expect(hidden.body.message).toBe('container c1 not found');
    expect((await carol.get('/containers/nosuchgroup')).body.message).toBe('container nosuchgroup not found');
    expect((await alice.get('/containers/Not_An_Id!')).status).toBe(400);
  });

  it('/lookup resolves collections/<label>', async () => {
    expect(ok(await alice.post('/lookup', { path: ['collections', 'QA'] }))).toMatchObject({ _id: coll, container_type: 'collection' });
    expect(ok(await alice.post('/lookup', { path: `collections/<id:${coll}>` }))).toMatchObject({ _id: coll });
    expect((await carol.post('/lookup', { path: ['collections', 'QA'] })).status).toBe(404);
    ok(await alice.post('/collections', { label: 'QA' }));
    const twice = await alice.post('/lookup', { path: ['collections', 'QA'] });
    expect(twice.status).toBe(409);
    expect(twice.body.message).toMatch(/more than one collection is labelled 'QA'/);
  });

  it('a role assigned only on a collection is in use: it cannot be deleted until the assignment goes', async () => {
    const role = ok(await s.admin.post('/roles', { label: 'coll-reviewer', actions: ['containers_view_metadata'] }))._id as string;
    ok(await alice.post(`/collections/${coll}/permissions`, { _id: 'carol@coll.org', role_ids: [role] }));
    expect(ok(await s.admin.get(`/roles/${role}`)).in_use).toBe(true);
    const refused = await s.admin.del(`/roles/${role}`);
    expect(refused.status).toBe(409);
    expect(refused.body.message).toMatch(/coll-reviewer/);
    // A second POST for the same user says to use PUT, naming the collection.
    const again = await alice.post(`/collections/${coll}/permissions`, { _id: 'carol@coll.org', role_ids: [role] });
    expect(again.status).toBe(409);
    expect(again.body.message).toContain(`collection ${coll}`);
    ok(await alice.del(`/collections/${coll}/permissions/carol@coll.org`));
    expect(ok(await s.admin.get(`/roles/${role}`)).in_use).toBe(false);
    ok(await s.admin.del(`/roles/${role}`));
  });

  it('deleting a collection leaves its members where they are', async () => {
    ok(await alice.put(`/collections/${coll}`, { contents: { operation: 'add', nodes: [{ _id: h1.session, level: 'session' }] } }));
    // As Flywheel's SDK sends it: Content-Type application/json and no body.
    ok(await alice.request('DELETE', `/collections/${coll}`, undefined, { 'Content-Type': 'application/json' }));
    expect((await alice.get(`/collections/${coll}`)).status).toBe(404);
    expect((await alice.get(`/containers/${coll}`)).status).toBe(404);
    expect((await alice.get(`/sessions/${h1.session}`)).status).toBe(200);
    expect((await alice.get(`/collections/${coll}/permissions`)).status).toBe(404);
  });
});
