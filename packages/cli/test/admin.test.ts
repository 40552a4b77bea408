import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, startTestServer, type TestServer, tempDir } from './helpers.js';

describe('administration: groups, users, keys, permissions', () => {
  let s: TestServer;
  let admin: Cli;
  beforeAll(async () => {
    s = await startTestServer();
    admin = new Cli();
    await admin.login(s.admin.key!);
  });
  afterAll(async () => {
    await s?.stop();
  }, 240_000);

  it('creates and lists groups; an import into a missing group says how to create it', async () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'sub-01', 'ses-01', 'anat'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'sub-01', 'ses-01', 'anat', 'notes.txt'), 'x');
    expect(await admin.fails(['import', 'folder', dir, 'neuro', 'study1'])).toBe(
      'error: group "neuro" does not exist; create it with: sprocket group add neuro',
    );
    expect(await admin.ok(['group', 'add', 'neuro', '--label', 'Neuroimaging lab'])).toBe('Created group neuro (Neuroimaging lab)\n');
    expect(await admin.ok(['group', 'add', 'lab'])).toBe('Created group lab\n');
    expect(await admin.fails(['group', 'add', 'lab'])).toMatch(/^error: .*lab.*\(409 GROUP_EXISTS\)$/);
    expect(await admin.fails(['group', 'add', 'Bad Id'])).toMatch(/^error: not a group id: 'Bad Id'/);
    const table = await admin.ok(['group', 'ls']);
    expect(table.split('\n')[0]).toMatch(/^ID\s+LABEL\s+CREATED$/);
    expect(table).toMatch(/\nneuro\s+Neuroimaging lab\s+\d{4}-/);
    expect((await admin.json(['group', 'ls'])).map((g: any) => g._id).sort()).toEqual(['lab', 'neuro']);
  }, 240_000);

  it('creates users with a key, lists them, disables them (their keys stop working)', async () => {
    const out = await admin.ok(['user', 'add', 'ana@lab.org', '--firstname', 'Ana', '--lastname', 'Silva', '--key']);
    expect(out).toMatch(/^Created user ana@lab.org \(user\)\nAPI key \(shown once\): (\S+)\n$/);
    const anaKey = /shown once\): (\S+)/.exec(out)![1]!;
    const ana = new Cli();
    expect(await ana.login(anaKey)).toContain('logged in as Ana Silva');
    await admin.ok(['user', 'add', 'dev@lab.org', '--roles', 'user,developer']);
    expect(await admin.fails(['user', 'add', 'x@lab.org', '--roles', 'wizard'])).toBe(
      "error: --roles: unknown site role 'wizard' (one of user, developer, site_admin)",
    );
    const users = await admin.json(['user', 'ls']);
    expect(users.find((u: any) => u._id === 'dev@lab.org').roles).toEqual(['user', 'developer']);
    expect(await admin.ok(['user', 'ls'])).toMatch(/ana@lab\.org\s+Ana Silva\s+user\s+active/);
    // Only site admins manage users.
    expect(await ana.fails(['user', 'ls'])).toMatch(/site_admin role required \(403 FORBIDDEN\)$/);

    // Destructive: refused without a terminal unless --yes.
    expect(await admin.fails(['user', 'disable', 'ana@lab.org'])).toBe(
      'error: Disable user ana@lab.org and revoke all their keys: refusing without confirmation; pass --yes (there is no terminal to ask on)',
    );
    expect(await ana.ok(['status'])).toContain('Ana Silva');
    expect(await admin.ok(['user', 'disable', 'ana@lab.org', '--yes'])).toBe('Disabled user ana@lab.org; their keys are revoked\n');
    expect(await ana.fails(['status'])).toMatch(/API key was refused/);
    expect(await admin.ok(['user', 'ls'])).toMatch(/ana@lab\.org\s+Ana Silva\s+user\s+disabled/);
    await admin.ok(['user', 'disable', 'ana@lab.org', '--enable']);
    expect(await ana.fails(['status'])).toMatch(/API key was refused/);
  }, 240_000);

  it("issues, lists and revokes keys, their own and (site admins) other users'", async () => {
    const issued = await admin.json(['key', 'add', '--user', 'dev@lab.org', '--label', 'ci']);
    expect(issued.key).toMatch(/^127\.0\.0\.1:\d+:/);
    const dev = new Cli();
    await dev.login(issued.key);
    const mine = await dev.ok(['key', 'add', '--label', 'laptop']);
    expect(mine).toMatch(/^Issued key [0-9a-f]{24} \(shown once; 'sprocket login <key>' uses it\):\n\S+\n$/);
    const keys = await dev.json(['key', 'ls']);
    expect(keys.map((k: any) => [k.label, k.revoked])).toEqual([
      ['ci', false],
      ['laptop', false],
    ]);
    expect(JSON.stringify(keys)).not.toContain(issued.key.split(':').pop());
    expect(await dev.ok(['key', 'ls'])).toMatch(/^ID\s+LABEL\s+STATE\s+CREATED\s+LAST USED\n[0-9a-f]{24}\s+ci\s+active/);
    const ci = keys[0].id;
    expect(await admin.fails(['key', 'revoke', ci, '--user', 'dev@lab.org'])).toMatch(/pass --yes/);
    expect(await admin.ok(['key', 'revoke', ci, '--user', 'dev@lab.org', '--yes'])).toBe(`Revoked key ${ci}\n`);
    expect(await dev.fails(['status'])).toMatch(/API key was refused/);
    expect((await admin.json(['key', 'ls', '--user', 'dev@lab.org'])).map((k: any) => k.revoked)).toEqual([true, false]);
    expect(await admin.fails(['key', 'revoke', 'nope', '--yes'])).toBe("error: not a key id: 'nope' (ids are 24 hex digits)");
    expect(await admin.fails(['key', 'revoke', '0123456789abcdef01234567', '--yes'])).toMatch(/not found \(404 AUTH_KEY_NOT_FOUND\)$/);
  }, 240_000);

  it('grants group access and project roles by name, lists and removes them; the grantee sees what was granted', async () => {
    await admin.ok(['user', 'add', 'bob@lab.org']);
    const bobKey = (await admin.json(['key', 'add', '--user', 'bob@lab.org'])).key;
    const bob = new Cli();
    await bob.login(bobKey);
    const project = (await s.admin.post('/projects', { group: 'lab', label: 'study1' })).body._id;
    expect(await bob.fails(['ls', 'lab/study1'])).toMatch(/^error: not found: lab\/study1/);

    expect(await admin.ok(['permission', 'add', 'lab/study1', 'bob@lab.org', 'read-only'])).toBe(
      'bob@lab.org now has read-only on project lab/study1\n',
    );
    expect(await bob.ok(['ls', 'lab/study1'])).toBe('(empty)\n');
    expect(await bob.fails(['upload', 'lab/study1', bob.home])).toBeTruthy();
    const role = (await s.admin.post('/roles', { label: 'Gear runner', actions: ['jobs_run_cancel'] })).body._id;
    expect(await admin.ok(['permission', 'add', 'lab/study1', 'bob@lab.org', 'gear runner'])).toBe(
      'bob@lab.org now has read-only, Gear runner on project lab/study1\n',
    );
    expect((await s.admin.get(`/projects/${project}/permissions/bob@lab.org`)).body.role_ids).toEqual(['ro', role]);
    expect(await admin.fails(['permission', 'add', 'lab/study1', 'bob@lab.org', 'owner'])).toMatch(
      /^error: no role 'owner' \(roles: .*read-only.*; see 'sprocket permission roles'\)$/,
    );
    expect(await admin.ok(['permission', 'ls', 'lab/study1'])).toMatch(/^USER\s+ROLES\n(.*\n)*bob@lab\.org\s+read-only, Gear runner\n/);
    expect((await admin.json(['permission', 'ls', 'lab/study1'])).find((p: any) => p.id === 'bob@lab.org')).toEqual({
      id: 'bob@lab.org',
      role_ids: ['ro', role],
      roles: ['read-only', 'Gear runner'],
    });
    expect(await admin.ok(['permission', 'rm', 'lab/study1', 'bob@lab.org', 'Gear runner', '--yes'])).toBe(
      'bob@lab.org now has read-only on project lab/study1\n',
    );
    expect(await admin.fails(['permission', 'rm', 'lab/study1', 'bob@lab.org'])).toMatch(/pass --yes/);
    expect(await admin.ok(['permission', 'rm', 'lab/study1', 'bob@lab.org', '--yes'])).toBe(
      'Removed bob@lab.org from project lab/study1\n',
    );
    expect(await bob.fails(['ls', 'lab/study1'])).toMatch(/not found/);
    expect(await admin.fails(['permission', 'rm', 'lab/study1', 'bob@lab.org', '--yes'])).toBe(
      'error: bob@lab.org has no permission on project lab/study1',
    );

    // Group access covers the group's projects.
    expect(await admin.ok(['permission', 'add', 'lab', 'bob@lab.org', 'rw'])).toBe('bob@lab.org now has rw on group lab\n');
    expect(await bob.ok(['ls', 'lab'])).toMatch(/project .* study1/);
    expect(await admin.ok(['permission', 'add', 'lab', 'bob@lab.org', 'ro'])).toBe('bob@lab.org now has ro on group lab\n');
    expect((await admin.json(['permission', 'ls', 'lab'])).filter((p: any) => p.id === 'bob@lab.org')).toEqual([
      { id: 'bob@lab.org', access: 'ro' },
    ]);
    expect(await admin.fails(['permission', 'add', 'lab', 'bob@lab.org', 'read-write'])).toBe(
      "error: 'read-write' is not a group access level (one of ro, rw, admin)",
    );
    expect(await admin.ok(['permission', 'rm', 'lab', 'bob@lab.org', '--yes'])).toBe('Removed bob@lab.org from group lab\n');
    expect(await bob.fails(['ls', 'lab/study1'])).toMatch(/not found/);
    const sub = (await s.admin.post('/subjects', { project, label: 'sub-01' })).body._id;
    expect(sub).toBeTruthy();
    expect(await admin.fails(['permission', 'ls', 'lab/study1/sub-01'])).toBe(
      'error: lab/study1/sub-01 is a subject: permissions are set on groups (<group>) and projects (<group>/<project>)',
    );
    expect(await admin.ok(['permission', 'roles'])).toMatch(/Gear runner\s+1/);
  }, 240_000);

  it('every admin command has --help with examples', async () => {
    for (const cmd of [
      ['group', 'add'],
      ['user', 'disable'],
      ['key', 'revoke'],
      ['permission', 'add'],
      ['permission', 'rm'],
    ]) {
      expect(await admin.ok([...cmd, '--help']), cmd.join(' ')).toContain('Examples:');
    }
  }, 240_000);
});
