import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHierarchy } from '../../server/test/helpers.js';
import { makeUser, ok } from '../../server/test/people.js';
import { Cli, startTestServer, type TestServer } from './helpers.js';

describe('sprocket collection', () => {
  let s: TestServer;
  let cli: Cli;
  let ids: Awaited<ReturnType<typeof makeHierarchy>>;
  let t2: string;
  beforeAll(async () => {
    s = await startTestServer();
    ids = await makeHierarchy(s.admin, 'lab');
    t2 = ok(await s.admin.post('/acquisitions', { session: ids.session, label: 'T2w' }))._id;
    const other = ok(await s.admin.post('/sessions', { project: ids.project, label: 'ses-02', subject: { label: 'sub-02' } }))._id;
    ok(await s.admin.post('/acquisitions', { session: other, label: 'bold' }));
    cli = new Cli();
    await cli.login(s.admin.key!);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('creates, fills by path, shows members by path, empties and deletes a collection', async () => {
    expect(await cli.ok(['collection', 'create', 'QA failures', '-d', 'look again'])).toMatch(
      /^Created collection [0-9a-f]{24} \(QA failures\)\n$/,
    );
    const listed = await cli.ok(['collection', 'ls']);
    expect(listed).toMatch(/^ID\s+LABEL\s+CURATOR\s+DESCRIPTION\n[0-9a-f]{24}\s+QA failures\s+admin@sprocket\.local\s+look again\n$/);
    const [coll] = await cli.json(['collection', 'ls', '--json']);
    expect(coll).toMatchObject({ _id: expect.any(String), label: 'QA failures', curator: 'admin@sprocket.local' });

    const added = await cli.ok(['collection', 'add', 'QA failures', 'lab/Project/sub-01/ses-01', 'lab/Project/sub-02/ses-02/bold']);
    expect(added).toBe(`Added 1 session(s) and 1 acquisition(s) to collection QA failures (${coll._id})\n`);

    const shown = await cli.ok(['collection', 'show', 'QA failures']);
    expect(shown).toContain(`QA failures (${coll._id}), curated by admin@sprocket.local: look again`);
    expect(shown).toContain('Sessions (2)');
    expect(shown).toMatch(new RegExp(`${ids.session}\\s+lab/Project/sub-01/ses-01\\n`));
    expect(shown).toMatch(/lab\/Project\/sub-02\/ses-02\n/);
    expect(shown).toContain('Acquisitions (3)');
    expect(shown).toMatch(new RegExp(`${ids.acquisition}\\s+lab/Project/sub-01/ses-01/T1w\\n`));
    expect(shown).toMatch(new RegExp(`${t2}\\s+lab/Project/sub-01/ses-01/T2w\\n`));
    expect(shown).toMatch(/lab\/Project\/sub-02\/ses-02\/bold\n/);

    // By id, as JSON.
    const json = await cli.json(['collection', 'show', coll._id, '--json']);
    expect(json.sessions.map((x: { label: string }) => x.label).sort()).toEqual(['ses-01', 'ses-02']);
    expect(json.acquisitions).toHaveLength(3);

    expect(await cli.ok(['collection', 'remove', coll._id, 'lab/Project/sub-01/ses-01/T2w'])).toMatch(
      /^Removed 1 acquisition\(s\) from collection/,
    );
    const after = await cli.json(['collection', 'show', 'QA failures', '--json']);
    expect(after.acquisitions.map((x: { label: string }) => x.label).sort()).toEqual(['T1w', 'bold']);

    // Delete asks first; without a terminal it refuses and keeps the collection.
    expect(await cli.fails(['collection', 'delete', 'QA failures'])).toMatch(
      /^error: not deleting collection QA failures \([0-9a-f]{24}\) without --yes/,
    );
    expect(await cli.json(['collection', 'ls', '--json'])).toHaveLength(1);
    expect(await cli.ok(['collection', 'delete', 'QA failures', '--yes'])).toBe(`Deleted collection QA failures (${coll._id})\n`);
    expect(await cli.ok(['collection', 'ls'])).toBe('(no collections)\n');
    // The data stays.
    expect((await s.admin.get(`/sessions/${ids.session}`)).status).toBe(200);
  });

  it('says in one line what is wrong: unknown collection, a path that is not a session or acquisition, an ambiguous label', async () => {
    expect(await cli.fails(['collection', 'show', 'nope'])).toBe("error: no collection 'nope' (see 'sprocket collection ls')");
    await cli.ok(['collection', 'create', 'Mine']);
    expect(await cli.fails(['collection', 'add', 'Mine', 'lab/Project'])).toBe(
      'error: lab/Project is a project: collections hold sessions and acquisitions (give their paths)',
    );
    expect(await cli.fails(['collection', 'add', 'Mine', 'lab/Project/sub-09/ses-01'])).toMatch(/^error: not found: lab\/Project\/sub-09/);
    expect(await cli.fails(['collection', 'add', 'Mine', 'lab/Project/sub-01/ses-01/T1w/files/x.txt'])).toMatch(
      /^error: not found: .*x\.txt/,
    );
    await cli.ok(['collection', 'create', 'Mine']);
    expect(await cli.fails(['collection', 'show', 'Mine'])).toMatch(
      /^error: path collections\/Mine: more than one collection is labelled 'Mine'/,
    );

    // A bare id in a path: a collection's is refused in one line; a group whose id looks like a
    // container id still lists (GET /containers/{id} now answers groups too).
    const [first] = await cli.json(['collection', 'ls', '--json']);
    expect(await cli.fails(['ls', first._id])).toBe(
      `error: ${first._id} is a collection, not a place in the hierarchy (see 'sprocket collection show ${first._id}')`,
    );
    ok(await s.admin.post('/groups', { _id: 'abcdefabcdefabcdefabcdef', label: 'hexlike' }));
    ok(await s.admin.post('/projects', { group: 'abcdefabcdefabcdefabcdef', label: 'InHex' }));
    expect(await cli.ok(['ls', 'abcdefabcdefabcdefabcdef'])).toMatch(/project .*InHex/);

    // Someone without a role on a collection is told it does not exist.
    const bob = await makeUser(s, 'bob@lab.org');
    const bobCli = new Cli();
    await bobCli.login(bob.key!);
    const [mine] = await cli.json(['collection', 'ls', '--json']);
    expect(await bobCli.fails(['collection', 'show', mine._id])).toBe(`error: no collection '${mine._id}' (see 'sprocket collection ls')`);
    expect(await bobCli.fails(['collection', 'delete', mine._id, '--yes'])).toBe(
      `error: no collection '${mine._id}' (see 'sprocket collection ls')`,
    );
  });
});
