import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignInThrottle } from '../src/auth/sign-in-throttle.js';
import { addGear, manifest } from './gear-kit.js';
import { type Api, makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

/**
 * The web UI's server side: password and key sign-in into an HttpOnly cookie session, CSRF on
 * cookie-authenticated writes (never on key requests), sign-out ending the session, the event
 * stream filtered by what each user may see, and the built UI served at / beside a JSON /api.
 */
let s: TestServer;
let webDir: string;
const ASSET = `console.log(${JSON.stringify('compressible '.repeat(200))})`;
type Ids = Awaited<ReturnType<typeof makeHierarchy>>;
let A: Ids;
let B: Ids;
let bob: Api; // ro on group A
let carol: Api; // ro on group B only

beforeAll(async () => {
  // A stand-in for packages/web/dist: what is served and how does not depend on what the UI holds.
  webDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-webdist-'));
  fs.mkdirSync(path.join(webDir, 'assets'));
  fs.writeFileSync(path.join(webDir, 'index.html'), '<!doctype html><title>Sprocket</title><div id="root"></div>');
  fs.writeFileSync(path.join(webDir, 'assets', 'index-Ab12Cd34.js'), ASSET);
  // As scripts/build.ts writes them beside each asset.
  fs.writeFileSync(path.join(webDir, 'assets', 'index-Ab12Cd34.js.br'), brotliCompressSync(ASSET));
  fs.writeFileSync(path.join(webDir, 'assets', 'index-Ab12Cd34.js.gz'), gzipSync(ASSET));
  process.env.SPROCKET_WEB_DIR = webDir;
  try {
    s = await startTestServer();
  } finally {
    delete process.env.SPROCKET_WEB_DIR;
  }
  A = await makeHierarchy(s.admin);
  B = await makeHierarchy(s.admin);
  bob = await makeUser(s, 'bob@web.org');
  carol = await makeUser(s, 'carol@web.org');
  ok(await s.admin.post(`/groups/${A.group}/permissions`, { _id: 'bob@web.org', access: 'ro' }));
  ok(await s.admin.post(`/groups/${B.group}/permissions`, { _id: 'carol@web.org', access: 'ro' }));
});

afterAll(async () => {
  await s?.stop();
  fs.rmSync(webDir, { recursive: true, force: true });
});

/** A browser's view: the cookie jar of one site and the CSRF token the sign-in answered. */
class Browser {
  cookie?: string;
  csrf?: string;
  constructor(readonly base: string) {}

  async request(method: string, p: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(this.base + p, {
      method,
      headers: {
        ...(this.cookie ? { Cookie: this.cookie } : {}),
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) {
      const [pair] = setCookie.split(';');
      this.cookie = pair!.endsWith('=') ? undefined : pair;
    }
    const text = await res.text();
    return {
      status: res.status,
      body: text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text,
      headers: res.headers,
      setCookie,
    };
  }

  async signIn(body: Record<string, string>) {
    const r = await this.request('POST', '/auth/session', body);
    if (r.status === 200) this.csrf = r.body.csrf_token;
    return r;
  }
}

describe('password sign-in', () => {
  it('only an admin sets a password, and it must be long enough', async () => {
    expect((await bob.put('/users/bob@web.org/password', { password: 'bob-secret-1' })).status).toBe(403);
    expect((await s.admin.put('/users/bob@web.org/password', { password: 'short' })).status).toBe(400);
    expect((await s.admin.put('/users/nobody@web.org/password', { password: 'long enough' })).status).toBe(404);
    expect(ok(await s.admin.put('/users/bob@web.org/password', { password: 'bob-secret-1' }))).toEqual({ modified: 1 });
  });

  it('a wrong password or unknown email gets 401 and no cookie', async () => {
    const b = new Browser(s.url);
    for (const body of [
      { email: 'bob@web.org', password: 'wrong-password' },
      { email: 'nobody@web.org', password: 'bob-secret-1' },
      { email: 'carol@web.org', password: 'bob-secret-1' }, // carol has no password at all
    ]) {
      const r = await b.signIn(body);
      expect(r.status).toBe(401);
      expect(r.setCookie).toBeNull();
    }
  });

  it('signs in to an HttpOnly SameSite=Strict cookie that is stored hashed and expires', async () => {
    const b = new Browser(s.url);
    const r = await b.signIn({ email: 'bob@web.org', password: 'bob-secret-1' });
    expect(r.status).toBe(200);
    expect(r.body.user._id).toBe('bob@web.org');
    expect(r.body.csrf_token).toMatch(/^[\w-]{20,}$/);
    expect(r.setCookie).toMatch(/^sprocket_session=[\w-]{40,}; Path=\/api; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const token = decodeURIComponent(b.cookie!.split('=')[1]!);
    const rows = await (s.ctx.handle.db as any).selectFrom('web_sessions').selectAll().where('user_id', '=', 'bob@web.org').execute();
    expect(rows.some((row: any) => row.id === token)).toBe(false);
    const mine = rows.find((row: any) => row.id === createHash('sha256').update(token).digest('hex'));
    expect(mine).toBeDefined();
    expect(Date.parse(mine.expires) - Date.parse(mine.created)).toBe(12 * 3600 * 1000);
    // The password itself is stored as an argon2 hash.
    const pw = await (s.ctx.handle.db as any)
      .selectFrom('user_passwords')
      .select('hash')
      .where('user_id', '=', 'bob@web.org')
      .executeTakeFirst();
    expect(pw.hash).toMatch(/^\$argon2id\$/);
  });

  it('the cookie reads; writes need the CSRF token; sign-out ends the session on the server', async () => {
    const b = new Browser(s.url);
    await b.signIn({ email: 'bob@web.org', password: 'bob-secret-1' });
    expect((await b.request('GET', '/users/self')).body._id).toBe('bob@web.org');
    expect((await b.request('GET', '/auth/session')).body.csrf_token).toBe(b.csrf);
    expect((await b.request('GET', `/projects/${A.project}`)).status).toBe(200);

    const tag = `/projects/${A.project}/tags`;
    // bob is read-only on A: with a good token the request gets as far as the permission check.
    const noToken = await b.request('POST', tag, { value: 'x' });
    expect(noToken.status).toBe(403);
    expect(noToken.body.message).toMatch(/CSRF/);
    expect((await b.request('POST', tag, { value: 'x' }, { 'X-CSRF-Token': 'not-the-token' })).body.message).toMatch(/CSRF/);
    const withToken = await b.request('POST', tag, { value: 'x' }, { 'X-CSRF-Token': b.csrf! });
    expect(withToken.status).toBe(403);
    expect(withToken.body.message).not.toMatch(/CSRF/);

    const stolen = b.cookie!;
    expect((await b.request('DELETE', '/auth/session')).status).toBe(403); // sign-out is a write too
    const out = await b.request('DELETE', '/auth/session', undefined, { 'X-CSRF-Token': b.csrf! });
    expect(out.status).toBe(200);
    expect(out.setCookie).toMatch(/^sprocket_session=; .*Max-Age=0/);
    // A copy of the cookie kept from before is worth nothing now.
    const replay = await fetch(`${s.url}/users/self`, { headers: { Cookie: stolen } });
    expect(replay.status).toBe(401);
  });

  it('a cookie session of an admin may write with the token; a new password ends old sessions', async () => {
    ok(await s.admin.put('/users/admin@sprocket.local/password', { password: 'admin-pass-1' }));
    const b = new Browser(s.url);
    ok(await b.signIn({ email: 'admin@sprocket.local', password: 'admin-pass-1' }));
    const r = await b.request('POST', `/projects/${A.project}/tags`, { value: 'from-browser' }, { 'X-CSRF-Token': b.csrf! });
    expect(r.status).toBe(200);
    expect(ok(await s.admin.get(`/projects/${A.project}`)).tags).toContain('from-browser');
    ok(await s.admin.put('/users/admin@sprocket.local/password', { password: 'admin-pass-2' }));
    expect((await b.request('GET', '/users/self')).status).toBe(401);
  });
});

describe('sign-in throttling', () => {
  it('after 10 wrong passwords for one account from one address, even the right one gets a 429 with Retry-After', async () => {
    await makeUser(s, 'dave@web.org');
    ok(await s.admin.put('/users/dave@web.org/password', { password: 'dave-secret-1' }));
    const b = new Browser(s.url);
    for (let i = 0; i < 10; i++) expect((await b.signIn({ email: 'dave@web.org', password: `guess-${i}` })).status).toBe(401);
    const r = await b.signIn({ email: 'DAVE@web.org', password: 'dave-secret-1' });
    expect(r.status).toBe(429);
    expect(r.body.code).toBe('AUTH_THROTTLED');
    expect(r.body.message).toMatch(/too many failed sign-ins from this address: try again in \d+ s/);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(800);
    expect(r.setCookie).toBeNull();
    // Another account from the same address is not locked out by dave's guesses, nor are API keys.
    expect((await new Browser(s.url).signIn({ email: 'bob@web.org', password: 'bob-secret-1' })).status).toBe(200);
    expect((await new Browser(s.url).signIn({ api_key: bob.key! })).status).toBe(200);
  });

  it('a correct sign-in clears the count of its account', async () => {
    await makeUser(s, 'erin@web.org');
    ok(await s.admin.put('/users/erin@web.org/password', { password: 'erin-secret-1' }));
    const b = new Browser(s.url);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 9; i++) expect((await b.signIn({ email: 'erin@web.org', password: 'nope' })).status).toBe(401);
      expect((await b.signIn({ email: 'erin@web.org', password: 'erin-secret-1' })).status).toBe(200);
    }
  });

  it('counts per window, per address across accounts, and forgets the oldest entries first', () => {
    let now = 0;
    const t = new SignInThrottle(() => now);
    for (let i = 0; i < 10; i++) t.failed('10.0.0.1', 'x@y.org');
    expect(t.wait('10.0.0.1', 'x@y.org')).toBe(900);
    expect(t.wait('10.0.0.2', 'x@y.org')).toBeUndefined();
    now = 15 * 60_000;
    expect(t.wait('10.0.0.1', 'x@y.org')).toBeUndefined();
    // 50 failures over 50 accounts lock the address for every account.
    for (let i = 0; i < 50; i++) t.failed('10.0.0.3', `u${i}@y.org`);
    expect(t.wait('10.0.0.3', 'fresh@y.org')).toBe(900);
    // A flood of addresses keeps the table bounded: the first address is forgotten, not the memory grown.
    for (let i = 0; i < 10_000; i++) t.failed(`172.16.${i >> 8}.${i & 255}`, 'a@b.org');
    expect(t.wait('10.0.0.3', 'fresh@y.org')).toBeUndefined();
  });
});

describe('API key sign-in', () => {
  it('opens a session with a user key, which ends when the key is revoked', async () => {
    const { key, id: kid } = ok(await s.admin.post('/users/carol@web.org/key', {}));
    const b = new Browser(s.url);
    const r = await b.signIn({ api_key: key });
    expect(r.status).toBe(200);
    expect(r.body.user._id).toBe('carol@web.org');
    expect((await b.request('GET', '/users/self')).body._id).toBe('carol@web.org');
    expect((await b.signIn({ api_key: 'localhost:1:not-a-key' })).status).toBe(401);
    ok(await s.admin.del(`/users/carol@web.org/keys/${kid}`));
    expect((await b.request('GET', '/users/self')).status).toBe(401);
  });

  it('keys keep working unchanged, with no CSRF token, even beside a cookie', async () => {
    const r = await s.admin.post(`/projects/${A.project}/tags`, { value: 'from-key' });
    expect(r.status).toBe(200);
    const mixed = await s.admin.request(
      'POST',
      `/projects/${A.project}/tags`,
      { value: 'with-cookie' },
      { Cookie: 'sprocket_session=garbage' },
    );
    expect(mixed.status).toBe(200);
    expect((await s.anon.get('/users/self')).status).toBe(401);
  });
});

/** Reads server-sent events from /events into a list until stopped. */
function listen(headers: Record<string, string>) {
  const events: { event: string; data: any; id?: string }[] = [];
  const ctrl = new AbortController();
  const opened = fetch(`${s.url}/events`, { headers, signal: ctrl.signal }).then(async (res) => {
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buf += dec.decode(value, { stream: true });
          let i = buf.indexOf('\n\n');
          while (i >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            const id = /^id: (.*)$/m.exec(block)?.[1];
            if (ev && data) events.push({ event: ev, data: JSON.parse(data), id });
            i = buf.indexOf('\n\n');
          }
        }
      } catch {
        // aborted
      }
    })();
  });
  return { events, opened, stop: () => ctrl.abort() };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('GET /events', () => {
  it('needs a key or session', async () => {
    expect((await s.anon.get('/events')).status).toBe(401);
  });

  it('each user hears only of the projects they may see: new files and job changes', async () => {
    const bobStream = listen({ Authorization: `scitran-user ${bob.key}` });
    const carolStream = listen({ Authorization: `scitran-user ${carol.key}` });
    await Promise.all([bobStream.opened, carolStream.opened]);
    try {
      ok(await s.admin.upload(`/acquisitions/${A.acquisition}/files`, [{ name: 'in-a.txt', content: 'a\n' }]));
      await until(() => bobStream.events.some((e) => e.event === 'files'));
      const fa = bobStream.events.find((e) => e.event === 'files')!;
      expect(fa.data).toMatchObject({ container: { type: 'acquisition', id: A.acquisition }, project_id: A.project, names: ['in-a.txt'] });

      const gearId = await addGear(s.admin, manifest({ name: 'web-events', inputs: { file: { base: 'file' } } }));
      const job = ok(
        await s.admin.post('/jobs/add', {
          gear_id: gearId,
          inputs: { file: { type: 'acquisition', id: A.acquisition, name: 'in-a.txt' } },
          destination: { type: 'session', id: A.session },
        }),
      )._id;
      await until(() => bobStream.events.some((e) => e.event === 'job' && e.data._id === job));
      expect(bobStream.events.find((e) => e.data._id === job)!.data).toMatchObject({
        state: 'pending',
        gear_name: 'web-events',
        project_id: A.project,
      });
      ok(await s.admin.put(`/jobs/${job}`, { state: 'cancelled' }));
      await until(() => bobStream.events.some((e) => e.data._id === job && e.data.state === 'cancelled'));

      // Now something carol may see: it must be the first and only thing she heard.
      ok(await s.admin.upload(`/acquisitions/${B.acquisition}/files`, [{ name: 'in-b.txt', content: 'b\n' }]));
      await until(() => carolStream.events.length > 0);
      await new Promise((r) => setTimeout(r, 200));
      expect(carolStream.events.map((e) => e.data.project_id)).toEqual([B.project]);
      expect(bobStream.events.some((e) => e.data.project_id === B.project)).toBe(false);
    } finally {
      bobStream.stop();
      carolStream.stop();
    }
  });

  it('losing access to a project stops its events at once, on an open stream', async () => {
    const bobStream = listen({ Authorization: `scitran-user ${bob.key}` });
    await bobStream.opened;
    // Opened after bob's, so the hub reaches bob first: once the admin has the event, bob's turn is past.
    const adminStream = listen({ Authorization: `scitran-user ${s.admin.key}` });
    await adminStream.opened;
    try {
      ok(await s.admin.del(`/groups/${A.group}/permissions/bob@web.org`));
      ok(await s.admin.upload(`/acquisitions/${A.acquisition}/files`, [{ name: 'after-revoke.txt', content: 'x\n' }]));
      await until(() => adminStream.events.some((e) => e.data.names?.includes('after-revoke.txt')));
      await new Promise((r) => setTimeout(r, 200));
      expect(bobStream.events).toEqual([]);
    } finally {
      bobStream.stop();
      adminStream.stop();
      ok(await s.admin.post(`/groups/${A.group}/permissions`, { _id: 'bob@web.org', access: 'ro' }));
    }
  });

  it('a stream reopened with Last-Event-ID first gets what it missed, only what its user may see; an uncovered gap gets a reset', async () => {
    const bobKey = { Authorization: `scitran-user ${bob.key}` };
    const carolKey = { Authorization: `scitran-user ${carol.key}` };
    const first = listen(bobKey);
    const carolFirst = listen(carolKey);
    await Promise.all([first.opened, carolFirst.opened]);
    ok(await s.admin.upload(`/acquisitions/${A.acquisition}/files`, [{ name: 'before-drop.txt', content: '1\n' }]));
    await until(() => first.events.some((e) => e.data.names?.includes('before-drop.txt')));
    const lastSeen = first.events.at(-1)!.id!;
    expect(lastSeen).toMatch(/^[0-9a-f]{8}-\d+$/);
    first.stop();
    carolFirst.stop();
    await new Promise((r) => setTimeout(r, 100));
    // While nobody listens: two files in A (bob's), one in B (not bob's).
    ok(await s.admin.upload(`/acquisitions/${A.acquisition}/files`, [{ name: 'missed-1.txt', content: '1\n' }]));
    ok(await s.admin.upload(`/acquisitions/${B.acquisition}/files`, [{ name: 'not-bobs.txt', content: '1\n' }]));
    ok(await s.admin.upload(`/acquisitions/${A.acquisition}/files`, [{ name: 'missed-2.txt', content: '1\n' }]));
    await new Promise((r) => setTimeout(r, 200));

    const again = listen({ ...bobKey, 'Last-Event-ID': lastSeen });
    await again.opened;
    await until(() => again.events.length >= 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(again.events.map((e) => e.data.names)).toEqual([['missed-1.txt'], ['missed-2.txt']]);
    // Replayed in order, with ids that keep counting from where the page left off.
    const seqs = again.events.map((e) => Number(e.id!.split('-')[1]));
    expect(seqs[0]).toBeGreaterThan(Number(lastSeen.split('-')[1]));
    expect(seqs[1]).toBeGreaterThan(seqs[0]!);
    again.stop();

    // An id of another server process (or one from before a restart) cannot be caught up: reset.
    const foreign = listen({ ...bobKey, 'Last-Event-ID': '00000000-3' });
    await foreign.opened;
    await until(() => foreign.events.length > 0);
    expect(foreign.events[0]!.event).toBe('reset');
    foreign.stop();
    const junk = listen({ ...bobKey, 'Last-Event-ID': 'x'.repeat(5000) });
    await junk.opened;
    await until(() => junk.events.length > 0);
    expect(junk.events[0]!.event).toBe('reset');
    junk.stop();
  });

  it('a browser session streams too, and sign-out closes its stream', async () => {
    ok(await s.admin.put('/users/bob@web.org/password', { password: 'bob-secret-1' }));
    const b = new Browser(s.url);
    ok(await b.signIn({ email: 'bob@web.org', password: 'bob-secret-1' }));
    const res = await fetch(`${s.url}/events`, { headers: { Cookie: b.cookie! } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read(); // the opening comment
    ok(await b.request('DELETE', '/auth/session', undefined, { 'X-CSRF-Token': b.csrf! }));
    const end = await Promise.race([reader.read(), new Promise((r) => setTimeout(() => r('timeout'), 3000))]);
    expect(end).toMatchObject({ done: true });
  });
});

describe('the UI at /', () => {
  const root = () => s.url.replace(/\/api$/, '');

  it('serves the app shell with a CSP at / and at client routes', async () => {
    for (const p of ['/', '/projects/abc/sessions?sort=label', '/jobs/123']) {
      const res = await fetch(root() + p);
      expect(res.status, p).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
      expect(await res.text()).toContain('<div id="root">');
    }
  });

  it('hashed assets are cached for good; a missing asset is a 404, not the shell', async () => {
    const res = await fetch(`${root()}/assets/index-Ab12Cd34.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await fetch(`${root()}/assets/gone-1234.js`)).status).toBe(404);
  });

  it('assets go out brotli- or gzip-compressed as the browser accepts, from the copies the build made', async () => {
    const get = (encoding: string) =>
      new Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        http
          .get(`${root()}/assets/index-Ab12Cd34.js`, { headers: { 'Accept-Encoding': encoding } }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
          })
          .on('error', reject);
      });
    const br = await get('gzip, deflate, br');
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.vary).toMatch(/accept-encoding/i);
    expect(br.body.length).toBeLessThan(ASSET.length / 5);
    expect(brotliDecompressSync(br.body).toString()).toBe(ASSET);
    const gz = await get('gzip');
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body).toString()).toBe(ASSET);
    const plain = await get('identity');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.toString()).toBe(ASSET);
  });

  it('unknown API paths still answer a JSON 404', async () => {
    for (const [method, p] of [
      ['GET', '/api/no-such-route'],
      ['GET', '/api'],
      ['POST', '/api/no-such-route'],
    ] as const) {
      const res = await fetch(root() + p, { method });
      expect(res.status, p).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      expect(await res.json()).toMatchObject({ status: 404, code: 'ROUTE_NOT_FOUND' });
    }
  });
});
