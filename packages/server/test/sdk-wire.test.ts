import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addGear, manifest } from './gear-kit.js';
import { makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

/**
 * Flywheel's Python SDK talks through `requests`, whose habits differ from a browser's or fetch's:
 * query booleans spelled `True`/`False`, `Content-Type: application/json` on every call (GET and
 * DELETE included, with no body), `Content-Length: 0` on body-less POST and PUT, and path parameters
 * quoted with `quote(x, safe='')` (`/` as `%2F`, `@` as `%40`). These requests are sent byte for byte
 * that way over a raw socket, across many routes.
 */

interface WireReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  body: any;
}

let s: TestServer;
let key: string;

/** `urllib.parse.quote(value, safe='')`: everything but letters, digits and `_.-~` escaped. */
const pyQuote = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** One request as `requests` sends it for the SDK: JSON content type always, `Content-Length: 0` on a body-less non-GET. */
function sdkRequest(method: string, path: string, opts: { body?: unknown; key?: string } = {}): Promise<WireReply> {
  const url = new URL(s.url + path);
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    Accept: 'application/json',
    'User-Agent': 'Flywheel SDK/15.5.0 python-requests/2.31.0',
    'X-Accept-Feature': 'Subject-Container, Safe-Redirect',
    Authorization: `scitran-user ${opts.key ?? key}`,
  };
  // requests sets Content-Length for every method but GET and HEAD, 0 when there is no body.
  if (payload) headers['Content-Length'] = String(payload.length);
  else if (method !== 'GET' && method !== 'HEAD') headers['Content-Length'] = '0';
  return new Promise((resolve, reject) => {
    // The path goes out exactly as written: no client-side normalisation of %2F.
    const req = http.request({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: unknown = text;
        if ((res.headers['content-type'] ?? '').includes('json') && text) body = JSON.parse(text);
        resolve({ status: res.statusCode!, headers: res.headers, text, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

const expectOk = (r: WireReply, what: string) => expect(r.status, `${what}: ${r.text.slice(0, 300)}`).toBe(200);

let h: Awaited<ReturnType<typeof makeHierarchy>>;
const ODD = 'scan one+two (1)&x=y.txt';

beforeAll(async () => {
  s = await startTestServer();
  key = s.admin.key!;
  h = await makeHierarchy(s.admin, 'wire-lab');
  ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: ODD, content: 'odd name' }]));
  ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'plain.txt', content: 'plain' }]));
  const m = manifest();
  await addGear(s.admin, m);
  await addGear(s.admin, { ...m, version: '1.0.1' });
  ok(await s.admin.post('/users', { _id: 'wire.user@lab.org', email: 'wire.user@lab.org' }));
  ok(await s.admin.post('/groups/wire-lab/permissions', { _id: 'wire.user@lab.org', access: 'ro' }));
});
afterAll(async () => {
  await s?.stop();
});

describe("requests' booleans: True / False in query strings", () => {
  it('are read as booleans wherever a route takes one', async () => {
    const all = await sdkRequest('GET', '/gears?all_versions=True');
    expectOk(all, 'all_versions=True');
    const latest = await sdkRequest('GET', '/gears?all_versions=False');
    expectOk(latest, 'all_versions=False');
    // Both versions with True, only the latest with False: the flag was read, not ignored.
    expect(all.body.length).toBe(latest.body.length + 1);

    const file = `/acquisitions/${h.acquisition}/files/plain.txt`;
    const inline = await sdkRequest('GET', `${file}?view=True`);
    expectOk(inline, 'view=True');
    expect(inline.headers['content-disposition']).toMatch(/^inline/);
    const attached = await sdkRequest('GET', `${file}?view=False`);
    expectOk(attached, 'view=False');
    expect(attached.headers['content-disposition']).toMatch(/^attachment/);
  });

  it('other spellings still get a 400 naming the parameter', async () => {
    const r = await sdkRequest('GET', '/gears?all_versions=Maybe');
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(/^querystring\.all_versions: must be boolean$/);
  });
});

describe('GET and DELETE typed application/json with no body', () => {
  it('GET answers on every kind of route', async () => {
    for (const path of [
      '/users/self',
      '/config',
      '/version',
      '/roles',
      '/groups',
      `/groups/${h.group}`,
      `/groups/${h.group}/projects`,
      '/projects',
      `/projects/${h.project}`,
      `/projects/${h.project}/sessions`,
      `/projects/${h.project}/permissions`,
      `/sessions/${h.session}/acquisitions`,
      `/acquisitions/${h.acquisition}`,
      `/acquisitions/${h.acquisition}/files/plain.txt/info`,
      `/sessions/${h.session}/analyses`,
      '/jobs',
      '/gears',
    ]) {
      expectOk(await sdkRequest('GET', path), `GET ${path}`);
    }
  });

  it('DELETE (Content-Length: 0) removes tags, permissions and files', async () => {
    ok(await s.admin.post(`/sessions/${h.session}/tags`, { value: 'to-go' }));
    expectOk(await sdkRequest('DELETE', `/sessions/${h.session}/tags/to-go`), 'DELETE tag');
    expect(ok(await s.admin.get(`/sessions/${h.session}`)).tags).not.toContain('to-go');

    ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'doomed.txt', content: 'x' }]));
    expectOk(await sdkRequest('DELETE', `/acquisitions/${h.acquisition}/files/doomed.txt`), 'DELETE file');
    expect((await s.admin.get(`/acquisitions/${h.acquisition}/files/doomed.txt/info`)).status).toBe(404);

    ok(await s.admin.put(`/projects/${h.project}/permissions/wire.user@lab.org`, { role_ids: ['ro'] }));
    expectOk(await sdkRequest('DELETE', `/projects/${h.project}/permissions/${pyQuote('wire.user@lab.org')}`), 'DELETE permission');
    expect((await s.admin.get(`/projects/${h.project}/permissions/wire.user@lab.org`)).status).toBe(404);
  });
});

describe('POST and PUT with Content-Length: 0', () => {
  it('POST /users/{id}/key and /users/self/key issue keys', async () => {
    const issued = await sdkRequest('POST', `/users/${pyQuote('wire.user@lab.org')}/key`);
    expectOk(issued, 'POST /users/{id}/key');
    expect(issued.body.key).toEqual(expect.any(String));
    // The new key works, through the same wire habits.
    const self = await sdkRequest('GET', '/users/self', { key: issued.body.key });
    expectOk(self, 'GET /users/self with the new key');
    expect(self.body._id).toBe('wire.user@lab.org');
    expectOk(await sdkRequest('POST', '/users/self/key'), 'POST /users/self/key');
  });

  it('routes that need fields name the first one missing, not the body', async () => {
    const project = await sdkRequest('POST', '/projects');
    expect(project.status).toBe(400);
    expect(project.body.message).toMatch(/^body\.\w+: is required$/);
    const put = await sdkRequest('PUT', `/projects/${h.project}`);
    expect(put.status).toBe(400);
    expect(put.body.message).not.toMatch(/must be object/);
    expect(put.body.message).toMatch(/^body: must have at least 1 property$/);
  });

  it('a batch run and cancel go through', async () => {
    // A gear without file inputs runs once per session: one match, one job.
    const gear = await addGear(s.admin, manifest());
    const proposal = ok(await s.admin.post('/batch', { gear_id: gear, targets: [{ type: 'session', id: h.session }] }));
    expect(proposal.matched).toHaveLength(1);
    const run = await sdkRequest('POST', `/batch/${proposal._id}/run`);
    expectOk(run, 'POST /batch/{id}/run');
    // jobs=True: job documents; jobs=False: job ids.
    const docs = await sdkRequest('GET', `/batch/${proposal._id}?jobs=True`);
    expectOk(docs, 'jobs=True');
    expect(docs.body.jobs).toHaveLength(1);
    expect(docs.body.jobs[0]).toMatchObject({ gear_id: gear });
    const ids = await sdkRequest('GET', `/batch/${proposal._id}?jobs=False`);
    expect(ids.body.jobs).toEqual([expect.any(String)]);
    const cancel = await sdkRequest('POST', `/batch/${proposal._id}/cancel`);
    expectOk(cancel, 'POST /batch/{id}/cancel');
  });
});

describe("path parameters quoted with safe=''", () => {
  it('file names, user ids, group ids and tags arrive decoded', async () => {
    const file = await sdkRequest('GET', `/acquisitions/${h.acquisition}/files/${pyQuote(ODD)}`);
    expectOk(file, 'odd file name');
    expect(file.text).toBe('odd name');
    const info = await sdkRequest('GET', `/acquisitions/${h.acquisition}/files/${pyQuote(ODD)}/info`);
    expectOk(info, 'odd file name info');
    expect(info.body.name).toBe(ODD);

    const user = await sdkRequest('GET', `/users/${pyQuote('wire.user@lab.org')}`);
    expectOk(user, 'user id with %40');
    expect(user.body._id).toBe('wire.user@lab.org');
    const perm = await sdkRequest('GET', `/groups/${pyQuote(h.group)}/permissions/${pyQuote('wire.user@lab.org')}`);
    expectOk(perm, 'group permission');
    expect(perm.body).toEqual({ _id: 'wire.user@lab.org', access: 'ro' });

    ok(await s.admin.post(`/acquisitions/${h.acquisition}/tags`, { value: 'site/a b' }));
    expectOk(await sdkRequest('DELETE', `/acquisitions/${h.acquisition}/tags/${pyQuote('site/a b')}`), 'DELETE tag with %2F');
    expect(ok(await s.admin.get(`/acquisitions/${h.acquisition}`)).tags).not.toContain('site/a b');
  });

  it('a %2F in a file name or group id reaches the route and is refused there with a 4xx naming it', async () => {
    const slashed = await sdkRequest('GET', `/acquisitions/${h.acquisition}/files/${pyQuote('dir/plain.txt')}`);
    expect(slashed.status).toBe(400);
    expect(slashed.body.code).toBe('INVALID_FILE_NAME');
    expect(slashed.body.message).toMatch(/"dir\/plain\.txt" contains a path separator/);

    const group = await sdkRequest('GET', `/groups/${pyQuote('wire/lab')}`);
    expect(group.status).toBe(400);
    expect(group.body.message).toMatch(/^params\.id: must match the pattern/);
  });
});

describe('a user who is not an admin, the same way', () => {
  it('reads what they may and is refused the rest', async () => {
    const ro = await makeUser(s, 'wire.reader@lab.org');
    ok(await s.admin.post('/groups/wire-lab/permissions', { _id: 'wire.reader@lab.org', access: 'ro' }));
    expectOk(await sdkRequest('GET', `/projects/${h.project}?inflate_job=True`, { key: ro.key! }), 'project as reader');
    const refused = await sdkRequest('DELETE', `/sessions/${h.session}`, { key: ro.key! });
    expect(refused.status).toBe(403);
  });
});
