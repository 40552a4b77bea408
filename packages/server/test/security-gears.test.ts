import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Kysely, Migrator } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as m0001 from '../src/db/migrations/0001_core.js';
import * as m0002 from '../src/db/migrations/0002_listing_indexes.js';
import * as m0003 from '../src/db/migrations/0003_jobs.js';
import * as m0004 from '../src/db/migrations/0004_views.js';
import * as m0005 from '../src/db/migrations/0005_batch_rules.js';
import { openPostgres } from '../src/db/postgres.js';
import { openSqlite } from '../src/db/sqlite.js';
import { addGear, gearArchive, manifest, uploadArchive } from './gear-kit.js';
import { type Api, freshDatabaseUrl, makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

/**
 * Attacks on gear names: a developer uploading a higher version of someone else's gear, racing for
 * a new name, steering auto_update rules, and learning of rules in projects they cannot see.
 */

let s: TestServer;
let alice: Api;
let bob: Api;
beforeAll(async () => {
  s = await startTestServer();
  alice = await makeUser(s, 'alice@gears.org', ['developer']);
  bob = await makeUser(s, 'bob@gears.org', ['developer']);
});
afterAll(async () => {
  await s?.stop();
});

/** A gear a rule can drive: one required file input. */
const qaManifest = (name: string, version: string, over: Record<string, unknown> = {}) => manifest({ name, version, inputs: { nifti: { base: 'file' } }, ...over });

/** A project `user` manages (group admin), holding an auto_update rule on `gearId`. */
async function projectWithRule(user: string | undefined, gearId: string) {
  const h = await makeHierarchy(s.admin);
  if (user) ok(await s.admin.post(`/groups/${h.group}/permissions`, { _id: user, access: 'admin' }));
  const rule = ok(await s.admin.post(`/projects/${h.project}/rules`, { gear_id: gearId, name: 'qa everything', any: [{ type: 'file.type', value: 'nifti' }], auto_update: true }))._id as string;
  return { ...h, rule };
}

const ruleGear = async (h: { project: string; rule: string }) => ok(await s.admin.get(`/projects/${h.project}/rules/${h.rule}`)).gear_id as string;

describe('gear name ownership', () => {
  it("refuses another developer's higher version of a gear (403); latest, lookup and auto_update rules stay", async () => {
    const v1 = await addGear(alice, qaManifest('nifti-qa', '1.0.0'));
    const lab = await projectWithRule('alice@gears.org', v1);
    const other = await projectWithRule(undefined, v1); // a project neither developer can see

    const attack = await uploadArchive(bob, await gearArchive(qaManifest('nifti-qa', '99.0.0', { description: 'not what you think' })));
    expect(attack.status, JSON.stringify(attack.body)).toBe(403);
    expect(attack.body.message).toMatch(/gear nifti-qa belongs to another user: only the owner of a gear name and site admins may upload/);
    // Nothing changed: latest is still alice's version everywhere a client looks.
    expect(ok(await bob.post('/lookup', { path: 'gears/nifti-qa' }))._id).toBe(v1);
    const listed = ok(await bob.get('/gears')).filter((g: any) => g.gear.name === 'nifti-qa');
    expect(listed.map((g: any) => g._id)).toEqual([v1]);
    expect((await bob.post('/lookup', { path: 'gears/nifti-qa/99.0.0' })).status).toBe(404);
    expect(await ruleGear(lab)).toBe(v1);
    expect(await ruleGear(other)).toBe(v1);
    // The same version number that exists is refused for ownership too, not as a mere 409.
    expect((await uploadArchive(bob, await gearArchive(qaManifest('nifti-qa', '1.0.0')))).status).toBe(403);

    // The owner's own new version is what the rules follow.
    const v2 = await addGear(alice, qaManifest('nifti-qa', '1.1.0'));
    expect(await ruleGear(lab)).toBe(v2);
    expect(await ruleGear(other)).toBe(v2);
    expect((await s.anon.get('/gears/owners/nifti-qa')).status).toBe(401);
    expect(ok(await bob.get('/gears/owners/nifti-qa'))).toEqual({ name: 'nifti-qa', owner: 'alice@gears.org' });
  });

  it('lets a site admin upload a version of any gear; it stays the owner’s and rules follow it', async () => {
    const v1 = await addGear(alice, qaManifest('alice-tool', '1.0.0'));
    const lab = await projectWithRule('alice@gears.org', v1);
    const v2 = await addGear(s.admin, qaManifest('alice-tool', '2.0.0'));
    expect(await ruleGear(lab)).toBe(v2);
    expect(ok(await bob.get('/gears/owners/alice-tool')).owner).toBe('alice@gears.org');
    expect((await uploadArchive(bob, await gearArchive(qaManifest('alice-tool', '3.0.0')))).status).toBe(403);
  });

  it('gives gears installed with the admin key (the shipped ones) to the site admin', async () => {
    const shipped = await addGear(s.admin, qaManifest('dcm2niix', '1.0.0'));
    const r = await uploadArchive(alice, await gearArchive(qaManifest('dcm2niix', '1.0.1')));
    expect(r.status).toBe(403);
    expect(r.body.message).toMatch(/gear dcm2niix belongs to another user/);
    expect(ok(await alice.post('/lookup', { path: 'gears/dcm2niix' }))._id).toBe(shipped);
  });

  it('gives a new name to exactly one of two developers racing for it', async () => {
    const name = `race-${Date.now()}`;
    const [a, b] = await Promise.all([
      uploadArchive(alice, await gearArchive(qaManifest(name, '1.0.0'))),
      uploadArchive(bob, await gearArchive(qaManifest(name, '1.0.1'))),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 403]);
    const winner = a.status === 200 ? 'alice@gears.org' : 'bob@gears.org';
    expect(ok(await alice.get(`/gears/owners/${name}`)).owner).toBe(winner);
    expect(ok(await s.admin.get('/gears', {})).filter((g: any) => g.gear.name === name)).toHaveLength(1);
  });
});

describe('handing a gear name over', () => {
  it('lets only the owner or an admin hand it over; auto_update does not follow the new owner’s versions', async () => {
    const v1 = await addGear(alice, qaManifest('handover', '1.0.0'));
    const lab = await projectWithRule('alice@gears.org', v1);
    expect((await bob.put('/gears/owners/handover', { owner: 'bob@gears.org' })).status).toBe(403);
    expect((await alice.put('/gears/owners/handover', { owner: 'nobody@gears.org' })).status).toBe(400);
    expect(ok(await alice.put('/gears/owners/handover', { owner: 'bob@gears.org' }))).toEqual({ name: 'handover', owner: 'bob@gears.org' });
    // Bob may now publish versions, but alice's lab chose to follow alice's code, not bob's.
    const r = await uploadArchive(bob, await gearArchive(qaManifest('handover', '2.0.0')));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await ruleGear(lab)).toBe(v1);
    // Bob cannot see alice's project: the upload says nothing about its rule.
    expect(JSON.stringify(r.body.warnings ?? [])).not.toContain(lab.rule);
    expect((await uploadArchive(alice, await gearArchive(qaManifest('handover', '3.0.0')))).status).toBe(403);
    // An admin hands it to the site admins: then only admins upload.
    expect(ok(await s.admin.put('/gears/owners/handover', { owner: null })).owner).toBeNull();
    expect((await uploadArchive(bob, await gearArchive(qaManifest('handover', '4.0.0')))).body.message).toMatch(/belongs to the site admins/);
  });
});

describe('upload warnings', () => {
  it('name rules only in projects the uploader can see', async () => {
    const v1 = await addGear(alice, qaManifest('warned', '1.0.0'));
    const mine = await projectWithRule('alice@gears.org', v1);
    const hidden = await projectWithRule(undefined, v1);
    // A version that needs a read-write key cannot drive rules: both rules stay, with a note.
    const r = await uploadArchive(alice, await gearArchive(qaManifest('warned', '2.0.0', { inputs: { nifti: { base: 'file' }, key: { base: 'api-key' } } })));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const text = (r.body.warnings ?? []).join('\n');
    expect(text).toMatch(new RegExp(`gear rule ${mine.rule} .*stays on its current version: Cannot create rule`));
    expect(text).not.toContain(hidden.rule);
    expect(text).not.toContain(hidden.project);
    expect(await ruleGear(hidden)).toBe(v1);
  });
});

describe('gears stored before owners were recorded', () => {
  it('belong to the site admins after the migration', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-gear-owners-'));
    const databaseUrl = await freshDatabaseUrl();
    const handle = databaseUrl ? openPostgres(databaseUrl) : openSqlite(path.join(dataDir, 'sprocket.db'));
    const old = { '0001_core': m0001, '0002_listing_indexes': m0002, '0003_jobs': m0003, '0004_views': m0004, '0005_batch_rules': m0005 };
    const migrator = new Migrator({ db: handle.db, provider: { getMigrations: async () => old }, migrationTableName: 'sprocket_migrations', migrationLockTableName: 'sprocket_migrations_lock' });
    const { error } = await migrator.migrateToLatest();
    expect(error).toBeUndefined();
    const m = qaManifest('legacy-qa', '1.0.0');
    const stamp = new Date().toISOString();
    await (handle.db as Kysely<any>)
      .insertInto('gears')
      .values({ id: 'a'.repeat(24), name: m.name, version: m.version, category: 'qa', manifest: JSON.stringify(m), exchange: '{}', archive_key: null, archive_size: 0, disabled: 0, created: stamp, modified: stamp })
      .execute();
    await handle.close();

    const old2 = await startTestServer({ dataDir, databaseUrl });
    try {
      const dev = await makeUser(old2, 'dev@legacy.org', ['developer']);
      const r = await uploadArchive(dev, await gearArchive(qaManifest('legacy-qa', '2.0.0')));
      expect(r.status).toBe(403);
      expect(r.body.message).toMatch(/gear legacy-qa belongs to the site admins/);
      expect(ok(await dev.get('/gears/owners/legacy-qa')).owner).toBeNull();
      expect((await uploadArchive(old2.admin, await gearArchive(qaManifest('legacy-qa', '2.0.0')))).status).toBe(200);
    } finally {
      await old2.stop();
    }
  });
});
