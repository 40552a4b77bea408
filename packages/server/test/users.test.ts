import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.stop();
});

const KEY_FORM = /^127\.0\.0\.1:(\d+):__force_insecure:([A-Za-z0-9_-]{20,})$/;

/** A raw request with exactly the headers given (no helper defaults). */
async function raw(path: string, headers: Record<string, string>) {
  const res = await fetch(s.url + path, { headers });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('users and API keys', () => {
  it('lets a site admin create, list, read and edit users; others may not', async () => {
    const created = await s.admin.post('/users', { _id: 'ann@lab.org', email: 'ann@lab.org', firstname: 'Ann', lastname: 'Lee' });
    expect(created.status).toBe(200);
    expect(created.body).toEqual({ _id: 'ann@lab.org' });
    expect((await s.admin.post('/users', { _id: 'ann@lab.org' })).status).toBe(409);

    const list = ok(await s.admin.get('/users')) as any[];
    const ann = list.find((u) => u._id === 'ann@lab.org');
    expect(ann).toMatchObject({ email: 'ann@lab.org', firstname: 'Ann', lastname: 'Lee', roles: ['user'], disabled: false, root: false });

    const annApi = s.as(ok(await s.admin.post('/users/ann@lab.org/key', {})).key);
    expect((await annApi.get('/users/self')).body).toMatchObject({ _id: 'ann@lab.org', firstname: 'Ann' });
    expect((await annApi.get('/users')).status).toBe(403);
    expect((await annApi.post('/users', { _id: 'mallory@lab.org' })).status).toBe(403);
    expect((await s.anon.get('/users')).status).toBe(401);

    // A user edits their own name but not their roles.
    expect((await annApi.put('/users/ann@lab.org', { firstname: 'Annie' })).status).toBe(200);
    expect((await annApi.put('/users/ann@lab.org', { roles: ['site_admin'] })).status).toBe(403);
    expect((await annApi.get('/users/self')).body.roles).toEqual(['user']);
    expect((await s.admin.get('/users/ann@lab.org')).body.firstname).toBe('Annie');
    expect((await s.admin.get('/users/nobody@lab.org')).status).toBe(404);
  });

  it('issues keys of the form <host>:<port>:__force_insecure:<secret>, for oneself and by an admin', async () => {
    const bob = await makeUser(s, 'bob@lab.org');
    const port = String(new URL(s.url).port);
    const own = ok(await bob.post('/users/self/key', { label: 'laptop' }));
    const m = KEY_FORM.exec(own.key);
    expect(m, own.key).not.toBeNull();
    expect(m![1]).toBe(port);
    const byAdmin = ok(await s.admin.post('/users/bob@lab.org/key', {}));
    expect(KEY_FORM.test(byAdmin.key)).toBe(true);
    expect(byAdmin.key).not.toBe(own.key);
    // Only admins issue keys for others.
    expect((await bob.post('/users/ann@lab.org/key', {})).status).toBe(403);
    expect((await s.admin.post('/users/ghost@lab.org/key', {})).status).toBe(404);
  });

  it('accepts scitran-user and Bearer, with the secret alone or the whole key', async () => {
    const carl = await makeUser(s, 'carl@lab.org');
    const key = carl.key!;
    const secret = key.split(':').at(-1)!;
    for (const auth of [`scitran-user ${key}`, `scitran-user ${secret}`, `Bearer ${key}`, `Bearer ${secret}`, `bearer ${secret}`]) {
      const r = await raw('/users/self', { Authorization: auth });
      expect(r.status, auth).toBe(200);
      expect(r.body._id).toBe('carl@lab.org');
    }
    expect((await raw('/users/self', { Authorization: 'scitran-user not-a-key' })).status).toBe(401);
    expect((await raw('/users/self', { Authorization: 'Bearer ' })).status).toBe(401);
    expect((await raw('/users/self', {})).status).toBe(401);
    const bad = await raw('/users/self', { Authorization: 'scitran-user 127.0.0.1:1:__force_insecure:wrong' });
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ status: 401, code: 'AUTH_INVALID_KEY' });
  });

  it('ignores X-Accept-Feature values it does not know', async () => {
    const r = await raw('/users/self', {
      Authorization: `scitran-user ${s.admin.key}`,
      'X-Accept-Feature': 'Subject-Container,Safe-Redirect,Time-Travel, no such thing',
    });
    expect(r.status).toBe(200);
    const groups = await s.admin.get('/groups', { 'X-Accept-Feature': 'Frobnicate' });
    expect(groups.status).toBe(200);
    expect(Array.isArray(groups.body)).toBe(true);
  });

  it('lists keys without secrets and revokes them', async () => {
    const dana = await makeUser(s, 'dana@lab.org');
    const second = ok(await dana.post('/users/self/key', { label: 'cluster' }));
    const keys = ok(await dana.get('/users/self/keys')) as any[];
    expect(keys.map((k) => k.label).sort()).toEqual(['', 'cluster']);
    const secret = second.key.split(':').at(-1);
    for (const k of keys) {
      expect(Object.keys(k).sort()).toEqual(['_id', 'created', 'label', 'last_used', 'revoked', 'type']);
      expect(JSON.stringify(k)).not.toContain(secret);
    }
    // Admins see a user's keys too, still without secrets.
    expect((ok(await s.admin.get('/users/dana@lab.org/keys')) as any[]).length).toBe(2);

    const secondApi = s.as(second.key);
    expect((await secondApi.get('/users/self')).status).toBe(200);
    expect((await dana.del(`/users/self/keys/${second.id}`)).status).toBe(200);
    expect((await secondApi.get('/users/self')).status).toBe(401);
    expect((await dana.get('/users/self')).status).toBe(200);
    expect((ok(await dana.get('/users/self/keys')) as any[]).find((k) => k._id === second.id).revoked).toBe(true);
    // Someone else's key id is not yours to revoke.
    const erin = await makeUser(s, 'erin@lab.org');
    const erinKeys = ok(await erin.get('/users/self/keys')) as any[];
    expect((await dana.del(`/users/self/keys/${erinKeys[0]._id}`)).status).toBe(404);
    expect((await erin.get('/users/self')).status).toBe(200);
    // An admin revokes any user's key.
    expect((await s.admin.del(`/users/erin@lab.org/keys/${erinKeys[0]._id}`)).status).toBe(200);
    expect((await erin.get('/users/self')).status).toBe(401);
  });

  it('disabling a user (PUT disabled or DELETE) locks out their keys', async () => {
    const fay = await makeUser(s, 'fay@lab.org');
    expect((await fay.get('/users/self')).status).toBe(200);
    expect((await s.admin.put('/users/fay@lab.org', { disabled: true })).status).toBe(200);
    const locked = await fay.get('/users/self');
    expect(locked.status).toBe(401);
    expect(locked.body.message).toContain('disabled');
    expect(ok(await s.admin.get('/users/fay@lab.org')).disabled).toBe(true);
    expect((await s.admin.put('/users/fay@lab.org', { disabled: false })).status).toBe(200);
    // Disabling revoked her keys: enabling brings none back (security-keys.test.ts); she needs a new one.
    expect((await fay.get('/users/self')).status).toBe(401);
    expect((await s.as(ok(await s.admin.post('/users/fay@lab.org/key', {})).key).get('/users/self')).status).toBe(200);

    const gus = await makeUser(s, 'gus@lab.org');
    expect((await gus.del('/users/fay@lab.org')).status).toBe(403);
    expect((await s.admin.del('/users/gus@lab.org')).status).toBe(200);
    expect((await gus.get('/users/self')).status).toBe(401);
    expect(ok(await s.admin.get('/users/gus@lab.org')).disabled).toBe(true);
    expect((await s.admin.del('/users/nobody@lab.org')).status).toBe(404);
    // The site cannot lock itself out by accident.
    expect((await s.admin.put('/users/admin@sprocket.local', { disabled: true })).status).toBe(409);
    expect((await s.admin.del('/users/admin@sprocket.local')).status).toBe(409);
    expect((await s.admin.get('/users/self')).status).toBe(200);
  });

  it('serves /config with site.api_url and /version', async () => {
    const config = ok(await s.admin.get('/config'));
    expect(config.site.api_url).toBe(s.url);
    expect(config.site.api_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api$/);
    const version = ok(await new Api(s.url, undefined).get('/version'));
    expect(version).toMatchObject({ _id: 'version' });
    expect(typeof version.database).toBe('number');
    expect(version.flywheel_release).toMatch(/^\d+\.\d+\.\d+/);
  });
});
