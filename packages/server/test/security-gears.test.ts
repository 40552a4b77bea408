import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
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
const qaManifest = (name: string, version: string, over: Record<string, unknown> = {}) =>
  manifest({ name, version, inputs: { nifti: { base: 'file' } }, ...over });

/** A project `user` manages (group admin), holding an auto_update rule on `gearId`. */
async function projectWithRule(user: string | undefined, gearId: string) {
  const h = await makeHierarchy(s.admin);
  if (user) ok(await s.admin.post(`/groups/${h.group}/permissions`, { _id: user, access: 'admin' }));
  const rule = ok(
    await s.admin.post(`/projects/${h.project}/rules`, {
      gear_id: gearId,
      name: 'qa everything',
      any: [{ type: 'file.type', value: 'nifti' }],
      auto_update: true,
    }),
  )._id as string;
  return { ...h, rule };
}

const ruleGear = async (h: { project: string; rule: string }) =>
  ok(await s.admin.get(`/projects/${h.project}/rules/${h.rule}`)).gear_id as string;

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
    expect((await uploadArchive(bob, await gearArchive(qaManifest('handover', '4.0.0')))).body.message).toMatch(
      /belongs to the site admins/,
    );
  });
});

describe('upload warnings', () => {
  it('name rules only in projects the uploader can see', async () => {
    const v1 = await addGear(alice, qaManifest('warned', '1.0.0'));
    const mine = await projectWithRule('alice@gears.org', v1);
    const hidden = await projectWithRule(undefined, v1);
    // A version that needs a read-write key cannot drive rules: both rules stay, with a note.
    const r = await uploadArchive(
      alice,
      await gearArchive(qaManifest('warned', '2.0.0', { inputs: { nifti: { base: 'file' }, key: { base: 'api-key' } } })),
    );
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
    const migrator = new Migrator({
      db: handle.db,
      provider: { getMigrations: async () => old },
      migrationTableName: 'sprocket_migrations',
      migrationLockTableName: 'sprocket_migrations_lock',
    });
    const { error } = await migrator.migrateToLatest();
    expect(error).toBeUndefined();
    const m = qaManifest('legacy-qa', '1.0.0');
    const stamp = new Date().toISOString();
    await (handle.db as Kysely<any>)
      .insertInto('gears')
      .values({
        id: 'a'.repeat(24),
        name: m.name,
        version: m.version,
        category: 'qa',
        manifest: JSON.stringify(m),
        exchange: '{}',
        archive_key: null,
        archive_size: 0,
        disabled: 0,
        created: stamp,
        modified: stamp,
      })
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

/** One ustar header, written by hand so the tests can say exactly what a hostile archive holds. */
function tarHeader(name: string, opts: { size?: number; type?: string; linkname?: string } = {}): Buffer {
  const h = Buffer.alloc(512);
  const put = (at: number, len: number, text: string) => h.write(text.slice(0, len), at, len, 'latin1');
  const octal = (at: number, len: number, n: number) => put(at, len, `${n.toString(8).padStart(len - 1, '0')}\0`);
  put(0, 100, name);
  octal(100, 8, opts.type === '5' ? 0o755 : 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, opts.size ?? 0);
  octal(136, 12, Math.floor(Date.now() / 1000));
  put(156, 1, opts.type ?? '0');
  put(157, 100, opts.linkname ?? '');
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  put(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

interface Member {
  name: string;
  type?: string;
  linkname?: string;
  content?: string;
}

/** The tar bytes of `members` (content padded to 512), without the end blocks. */
function tarMembers(members: Member[]): Buffer {
  const out: Buffer[] = [];
  for (const m of members) {
    const body = Buffer.from(m.content ?? '');
    out.push(
      tarHeader(m.name, { size: body.length, type: m.type, linkname: m.linkname }),
      body,
      Buffer.alloc((512 - (body.length % 512)) % 512),
    );
  }
  return Buffer.concat(out);
}

const hostile = (members: Member[]) =>
  gzipSync(Buffer.concat([tarMembers([{ name: 'manifest.json', content: JSON.stringify(manifest()) }, ...members]), Buffer.alloc(1024)]));

describe('gear archive members', () => {
  it.each<[string, Member[], string]>([
    ['a .. path', [{ name: '../../etc/cron.d/gear', content: 'x' }], 'archive member "../../etc/cron.d/gear" has a \'..\' in its path'],
    ['a .. inside the path', [{ name: 'lib/../../escape', content: 'x' }], '"lib/../../escape" has a \'..\''],
    ['an absolute path', [{ name: '/etc/passwd', content: 'x' }], 'archive member "/etc/passwd" has an absolute path'],
    ['an absolute link', [{ name: 'shadow', type: '2', linkname: '/etc/shadow' }], 'archive link "shadow" → "/etc/shadow" is absolute'],
    [
      'a link climbing out',
      [
        { name: 'lib/', type: '5' },
        { name: 'lib/up', type: '2', linkname: '../..' },
      ],
      'archive link "lib/up" → "../.." leads outside the gear',
    ],
    [
      'a chain of links that each look inside',
      [
        { name: 'd/', type: '5' },
        { name: 'up', type: '2', linkname: 'd/..' },
        { name: 'out', type: '2', linkname: 'up/../x' },
      ],
      'archive link "out" → "up/../x" leads outside the gear',
    ],
    [
      'a member written through a link',
      [
        { name: 'l', type: '2', linkname: 'lib' },
        { name: 'l/run', content: 'x' },
      ],
      '"l/run" lies below "l", which is not a folder',
    ],
    [
      'a hard link out',
      [{ name: 'pw', type: '1', linkname: '/etc/passwd' }],
      'archive hard link "pw" → "/etc/passwd" does not name an earlier file',
    ],
    ['a device', [{ name: 'mem', type: '3' }], 'archive member "mem" is a character-device'],
    [
      'a file twice',
      [
        { name: 'run', content: 'a' },
        { name: './run', content: 'b' },
      ],
      'archive member "./run" appears twice',
    ],
    [
      'a file replaced by a link',
      [
        { name: 'run', content: 'a' },
        { name: 'run', type: '2', linkname: 'lib' },
      ],
      'archive member "run" appears twice',
    ],
  ])('refuses %s at upload (400 naming the member)', async (_what, members, message) => {
    const r = await uploadArchive(alice, hostile(members));
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.message).toContain(message);
  });

  it('accepts links and hard links that stay inside the gear', async () => {
    const r = await uploadArchive(
      alice,
      hostile([
        { name: 'lib/', type: '5' },
        { name: 'lib/tool.sh', content: 'echo' },
        { name: 'tool', type: '2', linkname: 'lib/tool.sh' },
        { name: 'lib/self', type: '2', linkname: '../lib/./tool.sh' },
        { name: 'copy.sh', type: '1', linkname: 'lib/tool.sh' },
      ]),
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  });
});

describe('gear archive expansion', () => {
  it('refuses a 1 MB archive that inflates to 1.1 GB (413) without inflating it all', async () => {
    // gzip members concatenate: 1100 copies of 1 MiB of zeros gzipped is ~1.1 MB that inflates to 1.1 GiB.
    const size = 1100 * 2 ** 20;
    const prefix = Buffer.concat([
      tarMembers([{ name: 'manifest.json', content: JSON.stringify(manifest()) }]),
      tarHeader('weights.bin', { size }),
    ]);
    const zeros = gzipSync(Buffer.alloc(2 ** 20), { level: 9 });
    const bomb = Buffer.concat([gzipSync(prefix), ...Array<Buffer>(1100).fill(zeros), gzipSync(Buffer.alloc(1024))]);
    expect(bomb.length).toBeLessThan(1.3e6);
    const r = await uploadArchive(alice, bomb);
    expect(r.status, JSON.stringify(r.body)).toBe(413);
    expect(r.body.message).toMatch(/the archive expands more than 100 times .*decompression bomb/);
    // It stopped soon after the 64 MiB the ratio waits for, far from the 1.1 GiB at the end.
    const inflated = Number(/\((\d+) bytes from/.exec(r.body.message)?.[1]);
    expect(inflated).toBeLessThan(128 * 2 ** 20);
  });

  it('refuses a member whose declared size exceeds the bound before reading it', async () => {
    const prefix = Buffer.concat([
      tarMembers([{ name: 'manifest.json', content: JSON.stringify(manifest()) }]),
      tarHeader('huge.bin', { size: 5 * 2 ** 30 }),
    ]);
    const r = await uploadArchive(alice, gzipSync(prefix));
    expect(r.status, JSON.stringify(r.body)).toBe(413);
    expect(r.body.message).toContain(
      'archive member "huge.bin" declares 5368709120 bytes: the archive would expand to more than 4294967296 bytes',
    );
  });

  it('bounds members and total bytes by the SPROCKET_GEAR_ARCHIVE_* settings', async () => {
    const small = await startTestServer({
      env: { SPROCKET_GEAR_ARCHIVE_MAX_ENTRIES: '20', SPROCKET_GEAR_ARCHIVE_MAX_BYTES: String(2 ** 20) },
    });
    try {
      const dev = await makeUser(small, 'dev@small.org', ['developer']);
      const many = Array.from({ length: 25 }, (_, i) => ({ name: `f${i}`, content: 'x' }));
      const r = await uploadArchive(dev, hostile(many));
      expect(r.status).toBe(413);
      expect(r.body.message).toContain('the archive has more than 20 members (SPROCKET_GEAR_ARCHIVE_MAX_ENTRIES)');
      const big = await uploadArchive(dev, hostile([{ name: 'blob', content: 'x'.repeat(2 ** 20) }]));
      expect(big.status).toBe(413);
      expect(big.body.message).toContain('declares 1048576 bytes: the archive would expand to more than 1048576 bytes');
      expect((await uploadArchive(dev, hostile(many.slice(0, 10)))).status).toBe(200);
    } finally {
      await small.stop();
    }
  });
});
