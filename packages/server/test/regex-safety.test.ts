import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Spawned, spawnCaptured } from '../../../test-fixtures/processes.js';
import { openPostgres, USER_REGEX_TIMEOUT_MS } from '../src/db/postgres.js';
import type { Database } from '../src/db/schema.js';
import { addGear, manifest } from './gear-kit.js';
import { Api, freshDatabaseUrl, makeHierarchy } from './helpers.js';
import { ok } from './people.js';

/**
 * The server runs as its own process here: a pattern that stalls its thread must fail these tests
 * by their watchdog, not freeze the test runner along with an in-process server.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let child: Spawned;
let dataDir: string;
const s = {} as { admin: Api };
beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-regex-'));
  const databaseUrl = (await freshDatabaseUrl()) ?? '';
  child = spawnCaptured(process.execPath, ['--import', 'tsx', 'packages/server/src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, SPROCKET_DATA_DIR: dataDir, SPROCKET_PORT: '0', SPROCKET_LOG_LEVEL: 'error', DATABASE_URL: databaseUrl },
  });
  let url: string | undefined;
  while (!url) {
    if (child.proc.exitCode !== null) throw new Error(`server exited:\n${child.output()}`);
    url = /listening at (http:\/\/\S+\/api)/.exec(child.output())?.[1];
    await new Promise((r) => setTimeout(r, 50));
  }
  s.admin = new Api(url, fs.readFileSync(path.join(dataDir, 'admin-api-key'), 'utf8').trim());
}, 60_000);
afterAll(async () => {
  // SIGKILL: a server stuck in a regex would never run its SIGTERM handler.
  if (child && child.proc.exitCode === null) {
    child.proc.kill('SIGKILL');
    await child.exited;
  }
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

const q = (filter: string) => `filter=${encodeURIComponent(filter)}`;
// 40 characters: a backtracking engine needs ~2^40 steps for (a|a)*b here (the old server took 6 s
// at 29 and doubled per character), so these tests could only finish within their watchdog on a
// linear-time engine. safe-regex2 accepted (a|a)*b.
const EVIL = 'a'.repeat(40);
const WATCHDOG = 20_000;

// User patterns run on RE2 (linear time); what RE2 cannot do in linear time is refused by name.
describe('user regular expressions', () => {
  it(
    'list filters: (a|a)*b and (a+)+$ against a 40-character label answer, and other requests are served meanwhile',
    async () => {
      const h = await makeHierarchy(s.admin);
      ok(await s.admin.put(`/acquisitions/${h.acquisition}`, { label: `${EVIL}!` }));
      const list = (f: string) => s.admin.get(`/sessions/${h.session}/acquisitions?${q(f)}`);
      const attack = list('label=~(a|a)*b');
      const meanwhile = await s.admin.get('/users/self');
      expect(meanwhile.status).toBe(200);
      const r = await attack;
      expect(r.status).toBe(200);
      expect(r.body).toEqual([]);
      expect(ok(await list('label=~(a+)+$'))).toEqual([]);
      expect(ok(await list('label=~(a+)+!$')).map((a: any) => a._id)).toEqual([h.acquisition]);
      expect(ok(await list('info.x=~(a|a)*b,label=~^(a|a)*!$')).map((a: any) => a._id)).toEqual([]);
      expect(ok(await list('label=~^(a|a)*!$')).map((a: any) => a._id)).toEqual([h.acquisition]);
    },
    WATCHDOG,
  );

  it(
    'data views: a fileSpec regex and a row filter of (a|a)*b over a 40-character file name answer',
    async () => {
      const h = await makeHierarchy(s.admin);
      ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: EVIL, content: 'x' }]));
      const view = (filter: string, fileRegex: string) =>
        s.admin.request('POST', `/views/data?containerId=${h.project}&${q(filter)}`, {
          columns: [{ src: 'file.name' }],
          fileSpec: { container: 'acquisition', filter: { value: fileRegex, regex: true } },
        });
      const none = await view('file.name=~(a|a)*b', '(a|a)*b');
      expect(none.status).toBe(200);
      expect(none.body.data).toEqual([]);
      const all = ok(await view('file.name=~^(a|a)*$', '(x*)*'));
      expect(all.data.map((r: any) => r['file.name'])).toEqual([EVIL]);
    },
    WATCHDOG,
  );

  it(
    'gear rules: a (a|a)*b condition does not stall the upload it is checked against',
    async () => {
      const h = await makeHierarchy(s.admin);
      const gear = await addGear(s.admin, manifest({ inputs: { file: { base: 'file' } } }));
      const rule = ok(
        await s.admin.post(`/projects/${h.project}/rules`, {
          name: 'evil',
          gear_id: gear,
          any: [{ type: 'file.name', value: '(a|a)*b', regex: true }],
        }),
      )._id;
      // Many stars in a glob are polynomial for a backtracking engine; linear on RE2.
      const other = await addGear(s.admin, manifest({ inputs: { file: { base: 'file' } } }));
      const glob = ok(
        await s.admin.post(`/projects/${h.project}/rules`, {
          name: 'stars',
          gear_id: other,
          any: [{ type: 'file.name', value: `${'*a'.repeat(12)}*b` }],
        }),
      )._id;
      ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: `${EVIL}${'a'.repeat(200)}`, content: 'x' }]));
      ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: `${EVIL}b`, content: 'x' }]));
      const fired = async (id: string) =>
        (ok(await s.admin.get(`/jobs?${q(`origin.id=rule:${id}`)}`)) as any[]).map((j) => j.inputs.file.name);
      expect(await fired(rule)).toEqual([`${EVIL}b`]);
      expect(await fired(glob)).toEqual([`${EVIL}b`]);
    },
    WATCHDOG,
  );

  it('refuses backreferences and lookarounds (which RE2 lacks) with a 400 naming the filter, and bounds length', async () => {
    const h = await makeHierarchy(s.admin);
    const cases: [string, RegExp][] = [
      ['label=~(a)\\1', /filter term 'label=~\(a\)\\1': backreferences \(\\1\) are not supported/],
      ['label=~(?=a)a', /filter term 'label=~\(\?=a\)a': lookahead and lookbehind \(\(\?=\) are not supported/],
      ['label=~(?<!x)a', /lookahead and lookbehind \(\(\?<!\) are not supported/],
      ['label=~(unclosed', /filter term 'label=~\(unclosed': not a valid regular expression: missing \)/],
      [`label=~${'a'.repeat(600)}`, /longer than 512 characters/],
    ];
    for (const [filter, message] of cases) {
      const r = await s.admin.get(`/sessions/${h.session}/acquisitions?${q(filter)}`);
      expect(r.status, filter).toBe(400);
      expect(r.body.code, filter).toBe('INVALID_FILTER');
      expect(r.body.message, filter).toMatch(message);
    }
    const view = await s.admin.request('POST', `/views/data?containerId=${h.project}`, {
      columns: [{ src: 'file.name' }],
      fileSpec: { container: 'acquisition', filter: { value: '(?!x)y', regex: true } },
    });
    expect(view.status).toBe(400);
    expect(view.body.message).toMatch(/^fileSpec\.filter\.value: lookahead and lookbehind/);
    const evalFilter = await s.admin.request('POST', `/views/data?containerId=${h.project}&${q('file.name=~(x)\\1')}`, {
      columns: [{ src: 'session.label' }],
    });
    expect(evalFilter.status).toBe(400);
    expect(evalFilter.body.message).toMatch(/file\.name=~\(x\)\\1.*backreferences/);
    const gear = await addGear(s.admin, manifest({ inputs: { file: { base: 'file' } } }));
    const rule = await s.admin.post(`/projects/${h.project}/rules`, {
      name: 'r',
      gear_id: gear,
      any: [{ type: 'file.name', value: '(?<=a)b', regex: true }],
    });
    expect(rule.status).toBe(400);
    expect(rule.body.message).toMatch(/any\[0\]\.value: lookahead and lookbehind/);
  });
});

// PostgreSQL's own regex engine backtracks too; statements carrying a user pattern are bounded.
describe.skipIf(!process.env.SPROCKET_TEST_DATABASE_URL?.startsWith('postgres'))('PostgreSQL statement timeout', () => {
  it('applies to statements with a user pattern, in and out of transactions, and to no others', async () => {
    const handle = openPostgres((await freshDatabaseUrl())!);
    try {
      const userPattern = handle.dialect.regexMatch(sql`'abc'`, '^a');
      const timeout = async (db: Kysely<Database>, where: RawBuilder<boolean>) =>
        (await sql<{ t: string }>`select current_setting('statement_timeout') as t where ${where}`.execute(db)).rows[0]?.t;
      expect(await timeout(handle.db, sql`true`)).toBe('0');
      expect(await timeout(handle.db, userPattern)).toBe(`${USER_REGEX_TIMEOUT_MS / 1000}s`);
      expect(await timeout(handle.db, sql`true`)).toBe('0');
      await handle.db.transaction().execute(async (trx) => {
        expect(await timeout(trx, userPattern)).toBe(`${USER_REGEX_TIMEOUT_MS / 1000}s`);
        expect(await timeout(trx, sql`true`)).toBe('0');
      });
      // A statement that outlives the bound is cancelled (57014), and the connection is fine after.
      const slow = sql`select pg_sleep(600) where ${userPattern}`.execute(handle.db);
      await expect(slow).rejects.toMatchObject({ code: '57014' });
      expect(await timeout(handle.db, sql`true`)).toBe('0');
    } finally {
      await handle.close();
    }
  }, 60_000);
});
