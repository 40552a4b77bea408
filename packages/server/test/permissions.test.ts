import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Api, makeHierarchy, type Reply, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

/**
 * The permission matrix: every role against every route family. Group `lab` holds project
 * `Project` (P, the full hierarchy with a file and an analysis) and project `Other` (P2); group
 * `elsewhere` holds project Q that none of the test users may see.
 */
const ROLES = ['anon', 'none', 'ro', 'roProj', 'rw', 'pAdmin', 'admin'] as const;
type Role = (typeof ROLES)[number];
type Expect = Record<Role, number>;

let s: TestServer;
const api = {} as Record<Role, Api>;
let fx: Awaited<ReturnType<typeof makeHierarchy>> & {
  file: string;
  analysis: string;
  p2: string;
  p2Session: string;
  p2Acq: string;
  q: string;
};

const uid: Record<Role, string> = {
  anon: '',
  none: 'none@lab.org',
  ro: 'ro@lab.org',
  roProj: 'roproj@lab.org',
  rw: 'rw@lab.org',
  pAdmin: 'padmin@lab.org',
  admin: 'admin@sprocket.local',
};

beforeAll(async () => {
  s = await startTestServer();
  api.admin = s.admin;
  api.anon = s.anon;
  for (const r of ['none', 'ro', 'roProj', 'rw', 'pAdmin'] as const) api[r] = await makeUser(s, uid[r]);
  const h = await makeHierarchy(s.admin, 'lab');
  ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'scan.nii.gz', content: 'voxels' }]));
  const analysis = ok(await s.admin.post(`/sessions/${h.session}/analyses`, { label: 'qa' }))._id;
  const p2 = ok(await s.admin.post('/projects', { group: 'lab', label: 'Other' }))._id;
  const p2Session = ok(await s.admin.post('/sessions', { project: p2, label: 'hidden-ses', subject: { label: 'hidden-sub' } }))._id;
  const p2Acq = ok(await s.admin.post('/acquisitions', { session: p2Session, label: 'hidden-acq' }))._id;
  ok(await s.admin.upload(`/acquisitions/${p2Acq}/files`, [{ name: 'secret.txt', content: 'hidden' }]));
  ok(await s.admin.post(`/sessions/${p2Session}/analyses`, { label: 'hidden-analysis' }));
  ok(await s.admin.post('/groups', { _id: 'elsewhere', label: 'Elsewhere' }));
  const q = ok(await s.admin.post('/projects', { group: 'elsewhere', label: 'Q' }))._id;
  ok(await s.admin.post('/sessions', { project: q, label: 'q-ses', subject: { label: 'q-sub' } }));

  ok(await s.admin.post('/groups/lab/permissions', { _id: uid.ro, access: 'ro' }));
  ok(await s.admin.post('/groups/lab/permissions', { _id: uid.rw, access: 'rw' }));
  ok(await s.admin.put(`/projects/${h.project}/permissions/${uid.roProj}`, { role_ids: ['ro'] }));
  ok(await s.admin.put(`/projects/${h.project}/permissions/${uid.pAdmin}`, { role_ids: ['admin'] }));
  fx = { ...h, file: 'scan.nii.gz', analysis, p2, p2Session, p2Acq, q };
  for (const [plural, id] of containerIds()) ok(await s.admin.upload(`/${plural}/${id}/files`, [{ name: 'each.txt', content: plural }]));
});
afterAll(async () => {
  await s?.stop();
});

// Expectation rows: the status each role gets.
const READ: Expect = { anon: 401, none: 404, ro: 200, roProj: 200, rw: 200, pAdmin: 200, admin: 200 };
const WRITE: Expect = { anon: 401, none: 404, ro: 403, roProj: 403, rw: 200, pAdmin: 200, admin: 200 };
const PROJECT_ADMIN: Expect = { anon: 401, none: 404, ro: 403, roProj: 403, rw: 403, pAdmin: 200, admin: 200 };
const GROUP_READ: Expect = READ;
const GROUP_WRITE: Expect = { anon: 401, none: 404, ro: 403, roProj: 403, rw: 200, pAdmin: 403, admin: 200 };
const GROUP_ADMIN: Expect = { anon: 401, none: 404, ro: 403, roProj: 403, rw: 403, pAdmin: 403, admin: 200 };
const SITE_ADMIN: Expect = { anon: 401, none: 403, ro: 403, roProj: 403, rw: 403, pAdmin: 403, admin: 200 };
const ANY_USER: Expect = { anon: 401, none: 200, ro: 200, roProj: 200, rw: 200, pAdmin: 200, admin: 200 };
/** Project P2 in the same group: group members see it, holders of a role on P only do not. */
const P2_READ: Expect = { anon: 401, none: 404, ro: 200, roProj: 404, rw: 200, pAdmin: 404, admin: 200 };
const P2_WRITE: Expect = { anon: 401, none: 404, ro: 403, roProj: 404, rw: 200, pAdmin: 404, admin: 200 };
const HIDDEN: Expect = { anon: 401, none: 404, ro: 404, roProj: 404, rw: 404, pAdmin: 404, admin: 200 };

let seq = 0;
const n = () => ++seq;

async function freshFile(): Promise<string> {
  const name = `tmp-${n()}.txt`;
  ok(await s.admin.upload(`/acquisitions/${fx.acquisition}/files`, [{ name, content: 'x' }]));
  return name;
}
async function freshUser(): Promise<string> {
  const id = `target${n()}@lab.org`;
  ok(await s.admin.post('/users', { _id: id }));
  return id;
}

/** Every container type of P's hierarchy with its id. */
function containerIds(): [string, string][] {
  return [
    ['projects', fx.project],
    ['subjects', fx.subject],
    ['sessions', fx.session],
    ['acquisitions', fx.acquisition],
    ['analyses', fx.analysis],
  ];
}

interface Case {
  name: string;
  expect: Expect;
  run: (a: Api, role: Role) => Promise<Reply>;
}

const CASES: Case[] = [
  // groups
  { name: 'GET /groups/lab', expect: GROUP_READ, run: (a) => a.get('/groups/lab') },
  { name: 'GET /groups', expect: ANY_USER, run: (a) => a.get('/groups') },
  { name: 'PUT /groups/lab', expect: GROUP_WRITE, run: (a) => a.put('/groups/lab', { label: 'Lab' }) },
  { name: 'POST /groups/lab/tags', expect: GROUP_WRITE, run: (a) => a.post('/groups/lab/tags', { value: `t${n()}` }) },
  { name: 'GET /groups/lab/projects', expect: GROUP_READ, run: (a) => a.get('/groups/lab/projects') },
  { name: 'GET /groups/lab/permissions', expect: GROUP_READ, run: (a) => a.get('/groups/lab/permissions') },
  { name: 'GET /groups/lab/permissions/ro', expect: GROUP_READ, run: (a) => a.get(`/groups/lab/permissions/${uid.ro}`) },
  {
    name: 'PUT /groups/lab/permissions/x',
    expect: GROUP_ADMIN,
    run: async (a) => a.put(`/groups/lab/permissions/${await freshUser()}`, { access: 'ro' }),
  },
  {
    name: 'POST /groups/lab/permissions',
    expect: GROUP_ADMIN,
    run: async (a) => a.post('/groups/lab/permissions', { _id: await freshUser(), access: 'ro' }),
  },
  {
    name: 'DELETE /groups/lab/permissions/x',
    expect: GROUP_ADMIN,
    run: async (a) => {
      const u = await freshUser();
      ok(await s.admin.put(`/groups/lab/permissions/${u}`, { access: 'ro' }));
      return a.del(`/groups/lab/permissions/${u}`);
    },
  },
  {
    name: 'POST /groups (create)',
    expect: { anon: 401, none: 403, ro: 403, roProj: 403, rw: 403, pAdmin: 403, admin: 200 },
    run: (a) => a.post('/groups', { _id: `new${n()}` }),
  },
  {
    name: 'DELETE /groups/x (group admin only)',
    expect: { anon: 401, none: 404, ro: 403, roProj: 404, rw: 403, pAdmin: 404, admin: 200 },
    run: async (a) => {
      const g = `gone${n()}`;
      ok(await s.admin.post('/groups', { _id: g }));
      ok(await s.admin.put(`/groups/${g}/permissions/${uid.ro}`, { access: 'ro' }));
      ok(await s.admin.put(`/groups/${g}/permissions/${uid.rw}`, { access: 'rw' }));
      return a.del(`/groups/${g}`);
    },
  },
  { name: 'GET /groups/elsewhere', expect: HIDDEN, run: (a) => a.get('/groups/elsewhere') },
  { name: 'GET /groups/elsewhere/projects', expect: HIDDEN, run: (a) => a.get('/groups/elsewhere/projects') },

  // projects
  { name: 'GET /projects/P', expect: READ, run: (a) => a.get(`/projects/${fx.project}`) },
  { name: 'GET /projects', expect: ANY_USER, run: (a) => a.get('/projects') },
  { name: 'POST /projects in lab', expect: GROUP_WRITE, run: (a) => a.post('/projects', { group: 'lab', label: `p${n()}` }) },
  { name: 'PUT /projects/P', expect: WRITE, run: (a) => a.put(`/projects/${fx.project}`, { description: `d${n()}` }) },
  { name: 'POST /projects/P/info', expect: WRITE, run: (a) => a.post(`/projects/${fx.project}/info`, { set: { k: n() } }) },
  { name: 'GET /projects/P/tags', expect: READ, run: (a) => a.get(`/projects/${fx.project}/tags`) },
  { name: 'POST /projects/P/tags', expect: WRITE, run: (a) => a.post(`/projects/${fx.project}/tags`, { value: `t${n()}` }) },
  { name: 'POST /projects/P/notes', expect: WRITE, run: (a) => a.post(`/projects/${fx.project}/notes`, { text: 'note' }) },
  {
    name: 'DELETE /projects/x',
    expect: PROJECT_ADMIN,
    run: async (a, role) => {
      const p = ok(await s.admin.post('/projects', { group: 'lab', label: `doomed${n()}` }))._id;
      if (role === 'roProj') ok(await s.admin.put(`/projects/${p}/permissions/${uid.roProj}`, { role_ids: ['ro'] }));
      if (role === 'pAdmin') ok(await s.admin.put(`/projects/${p}/permissions/${uid.pAdmin}`, { role_ids: ['admin'] }));
      return a.del(`/projects/${p}`);
    },
  },
  { name: 'GET /projects/P2', expect: P2_READ, run: (a) => a.get(`/projects/${fx.p2}`) },
  { name: 'PUT /projects/P2', expect: P2_WRITE, run: (a) => a.put(`/projects/${fx.p2}`, { description: 'x' }) },
  { name: 'GET /projects/Q', expect: HIDDEN, run: (a) => a.get(`/projects/${fx.q}`) },
  { name: 'GET /containers/P', expect: READ, run: (a) => a.get(`/containers/${fx.project}`) },
  { name: 'GET /containers/Q', expect: HIDDEN, run: (a) => a.get(`/containers/${fx.q}`) },
  { name: 'GET /projects/P/download?summary', expect: READ, run: (a) => a.get(`/projects/${fx.project}/download?summary=true`) },
  { name: 'GET /projects/P/download (tar)', expect: READ, run: (a) => a.get(`/projects/${fx.project}/download`) },
  { name: 'GET /projects/Q/download', expect: HIDDEN, run: (a) => a.get(`/projects/${fx.q}/download?summary=true`) },
  { name: 'POST /download P', expect: READ, run: (a) => a.post('/download', { nodes: [{ level: 'project', _id: fx.project }] }) },

  // project permissions and roles
  { name: 'GET /projects/P/permissions', expect: READ, run: (a) => a.get(`/projects/${fx.project}/permissions`) },
  { name: 'GET /projects/P/permissions/roProj', expect: READ, run: (a) => a.get(`/projects/${fx.project}/permissions/${uid.roProj}`) },
  {
    name: 'PUT /projects/P/permissions/x',
    expect: PROJECT_ADMIN,
    run: async (a) => a.put(`/projects/${fx.project}/permissions/${await freshUser()}`, { role_ids: ['ro'] }),
  },
  {
    name: 'POST /projects/P/permissions',
    expect: PROJECT_ADMIN,
    run: async (a) => a.post(`/projects/${fx.project}/permissions`, { _id: await freshUser(), role_ids: ['rw'] }),
  },
  {
    name: 'DELETE /projects/P/permissions/x',
    expect: PROJECT_ADMIN,
    run: async (a) => {
      const u = await freshUser();
      ok(await s.admin.put(`/projects/${fx.project}/permissions/${u}`, { role_ids: ['ro'] }));
      return a.del(`/projects/${fx.project}/permissions/${u}`);
    },
  },
  { name: 'GET /roles', expect: ANY_USER, run: (a) => a.get('/roles') },
  { name: 'GET /roles/ro', expect: ANY_USER, run: (a) => a.get('/roles/ro') },
  { name: 'POST /roles', expect: SITE_ADMIN, run: (a) => a.post('/roles', { label: `role${n()}`, actions: ['files_download'] }) },

  // users (site admin routes)
  { name: 'GET /users', expect: SITE_ADMIN, run: (a) => a.get('/users') },
  { name: 'POST /users', expect: SITE_ADMIN, run: (a) => a.post('/users', { _id: `made${n()}@lab.org` }) },
  { name: 'POST /users/x/key', expect: SITE_ADMIN, run: async (a) => a.post(`/users/${await freshUser()}/key`, {}) },
  { name: 'PUT /users/x disabled', expect: SITE_ADMIN, run: async (a) => a.put(`/users/${await freshUser()}`, { disabled: true }) },
  { name: 'DELETE /users/x', expect: SITE_ADMIN, run: async (a) => a.del(`/users/${await freshUser()}`) },
  { name: 'GET /users/self', expect: ANY_USER, run: (a) => a.get('/users/self') },

  // subjects, sessions, acquisitions
  { name: 'GET /subjects/S', expect: READ, run: (a) => a.get(`/subjects/${fx.subject}`) },
  { name: 'POST /subjects', expect: WRITE, run: (a) => a.post('/subjects', { project: fx.project, label: `sub-${n()}` }) },
  { name: 'PUT /subjects/S', expect: WRITE, run: (a) => a.put(`/subjects/${fx.subject}`, { sex: 'other' }) },
  {
    name: 'DELETE /subjects/x',
    expect: WRITE,
    run: async (a) => a.del(`/subjects/${ok(await s.admin.post('/subjects', { project: fx.project, label: `del-${n()}` }))._id}`),
  },
  { name: 'GET /projects/P/subjects', expect: READ, run: (a) => a.get(`/projects/${fx.project}/subjects`) },
  { name: 'GET /sessions/X', expect: READ, run: (a) => a.get(`/sessions/${fx.session}`) },
  {
    name: 'POST /sessions',
    expect: WRITE,
    run: (a) => a.post('/sessions', { project: fx.project, label: `ses-${n()}`, subject: { _id: fx.subject } }),
  },
  { name: 'PUT /sessions/X', expect: WRITE, run: (a) => a.put(`/sessions/${fx.session}`, { operator: 'op' }) },
  { name: 'POST /sessions/X/info', expect: WRITE, run: (a) => a.post(`/sessions/${fx.session}/info`, { set: { a: 1 } }) },
  { name: 'GET /sessions/X/tags', expect: READ, run: (a) => a.get(`/sessions/${fx.session}/tags`) },
  { name: 'POST /sessions/X/tags', expect: WRITE, run: (a) => a.post(`/sessions/${fx.session}/tags`, { value: `t${n()}` }) },
  { name: 'POST /sessions/X/notes', expect: WRITE, run: (a) => a.post(`/sessions/${fx.session}/notes`, { text: 'hello' }) },
  {
    name: 'DELETE /sessions/x',
    expect: WRITE,
    run: async (a) =>
      a.del(
        `/sessions/${ok(await s.admin.post('/sessions', { project: fx.project, label: `del-${n()}`, subject: { _id: fx.subject } }))._id}`,
      ),
  },
  { name: 'GET /projects/P/sessions', expect: READ, run: (a) => a.get(`/projects/${fx.project}/sessions`) },
  { name: 'GET /subjects/S/sessions', expect: READ, run: (a) => a.get(`/subjects/${fx.subject}/sessions`) },
  { name: 'GET /sessions/P2-session', expect: P2_READ, run: (a) => a.get(`/sessions/${fx.p2Session}`) },
  { name: 'GET /acquisitions/A', expect: READ, run: (a) => a.get(`/acquisitions/${fx.acquisition}`) },
  { name: 'POST /acquisitions', expect: WRITE, run: (a) => a.post('/acquisitions', { session: fx.session, label: `acq-${n()}` }) },
  { name: 'PUT /acquisitions/A', expect: WRITE, run: (a) => a.put(`/acquisitions/${fx.acquisition}`, { uid: `1.2.${n()}` }) },
  { name: 'POST /acquisitions/A/info', expect: WRITE, run: (a) => a.post(`/acquisitions/${fx.acquisition}/info`, { set: { b: 2 } }) },
  {
    name: 'DELETE /acquisitions/x',
    expect: WRITE,
    run: async (a) => a.del(`/acquisitions/${ok(await s.admin.post('/acquisitions', { session: fx.session, label: `del-${n()}` }))._id}`),
  },
  { name: 'GET /sessions/X/acquisitions', expect: READ, run: (a) => a.get(`/sessions/${fx.session}/acquisitions`) },
  { name: 'GET /acquisitions/P2-acq', expect: P2_READ, run: (a) => a.get(`/acquisitions/${fx.p2Acq}`) },

  // analyses
  { name: 'GET /analyses/AN', expect: READ, run: (a) => a.get(`/analyses/${fx.analysis}`) },
  { name: 'GET /sessions/X/analyses', expect: READ, run: (a) => a.get(`/sessions/${fx.session}/analyses`) },
  { name: 'POST /sessions/X/analyses', expect: WRITE, run: (a) => a.post(`/sessions/${fx.session}/analyses`, { label: `an-${n()}` }) },
  { name: 'PUT /analyses/AN', expect: WRITE, run: (a) => a.put(`/analyses/${fx.analysis}`, { description: 'd' }) },
  { name: 'POST /analyses/AN/notes', expect: WRITE, run: (a) => a.post(`/analyses/${fx.analysis}/notes`, { text: 'x' }) },
  {
    name: 'DELETE /analyses/x',
    expect: WRITE,
    run: async (a) => a.del(`/analyses/${ok(await s.admin.post(`/sessions/${fx.session}/analyses`, { label: `del-${n()}` }))._id}`),
  },

  // files
  {
    name: 'POST /acquisitions/A/files',
    expect: WRITE,
    run: (a) => a.upload(`/acquisitions/${fx.acquisition}/files`, [{ name: `up-${n()}.txt`, content: 'data' }]),
  },
  { name: 'GET /acquisitions/A/files/f', expect: READ, run: (a) => a.get(`/acquisitions/${fx.acquisition}/files/${fx.file}`) },
  { name: 'GET /acquisitions/A/files/f/info', expect: READ, run: (a) => a.get(`/acquisitions/${fx.acquisition}/files/${fx.file}/info`) },
  {
    name: 'POST /acquisitions/A/files/f/info',
    expect: WRITE,
    run: (a) => a.post(`/acquisitions/${fx.acquisition}/files/${fx.file}/info`, { set: { q: 1 } }),
  },
  {
    name: 'DELETE /acquisitions/A/files/x',
    expect: WRITE,
    run: async (a) => a.del(`/acquisitions/${fx.acquisition}/files/${await freshFile()}`),
  },
  { name: 'GET /acquisitions/P2-acq/files/secret.txt', expect: P2_READ, run: (a) => a.get(`/acquisitions/${fx.p2Acq}/files/secret.txt`) },
  {
    name: 'POST /acquisitions/P2-acq/files',
    expect: P2_WRITE,
    run: (a) => a.upload(`/acquisitions/${fx.p2Acq}/files`, [{ name: `up-${n()}.txt`, content: 'd' }]),
  },

  // lookup and resolve
  {
    name: 'POST /lookup lab/Project/sub/ses/acq',
    expect: READ,
    run: (a) => a.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01', 'T1w'] }),
  },
  {
    name: 'POST /lookup …/files/f',
    expect: READ,
    run: (a) => a.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01', 'T1w', 'files', fx.file] }),
  },
  { name: 'POST /lookup lab/Other', expect: P2_READ, run: (a) => a.post('/lookup', { path: ['lab', 'Other'] }) },
  { name: 'POST /resolve lab', expect: GROUP_READ, run: (a) => a.post('/resolve', { path: ['lab'] }) },
  { name: 'POST /resolve lab/Project', expect: READ, run: (a) => a.post('/resolve', { path: ['lab', 'Project'] }) },
  { name: 'POST /lookup elsewhere/Q', expect: HIDDEN, run: (a) => a.post('/lookup', { path: ['elsewhere', 'Q'] }) },
];

describe('invisible containers', () => {
  /** Every id a listing returns, following the SDK: bare arrays of documents with `_id`. */
  const ids = async (a: Api, p: string) => {
    const r = await a.get(p);
    expect(r.status, p).toBe(200);
    return (r.body as any[]).map((x) => x._id);
  };

  it('never shows a container without a role through listings, filters, lookup, resolve or downloads', async () => {
    for (const role of ['none', 'roProj', 'pAdmin'] as const) {
      const a = api[role];
      const sees = role !== 'none';
      const projects = await ids(a, '/projects');
      expect(projects, role).toEqual(sees ? [fx.project] : []);
      expect(await ids(a, '/groups'), role).toEqual(sees ? ['lab'] : []);
      for (const list of ['/subjects', '/sessions', '/acquisitions', '/analyses']) {
        const got = await ids(a, list);
        const rows = await Promise.all(got.map((id) => s.admin.get(`/containers/${id}`)));
        for (const r of rows) expect(r.body.parents.project ?? r.body._id, `${role} ${list}`).toBe(fx.project);
        expect(got.length, `${role} ${list}`).toBe(sees ? 1 : 0);
      }
      // Filters and sorts cannot widen what a user sees.
      expect(await ids(a, '/projects?filter=label=Other'), role).toEqual([]);
      expect(await ids(a, '/sessions?filter=label=~hidden'), role).toEqual([]);
      expect(await ids(a, `/sessions?filter=parents.project=${fx.p2}`), role).toEqual([]);
      expect(await ids(a, `/acquisitions?filter=_id=${fx.p2Acq}`), role).toEqual([]);
      const env = await a.get('/sessions', { 'X-Accept-Feature': 'pagination' });
      expect(env.body.total, role).toBe(sees ? 1 : 0);
      if (sees) {
        expect(await ids(a, '/groups/lab/projects'), role).toEqual([fx.project]);
        const resolved = (await a.post('/resolve', { path: ['lab'] })).body;
        expect(
          resolved.children.map((c: any) => c._id),
          role,
        ).toEqual([fx.project]);
      }
      // Direct access to P2 and Q by any route is a 404, never a 403 that would confirm the id exists.
      for (const [method, p, body] of [
        ['GET', `/projects/${fx.p2}`],
        ['GET', `/containers/${fx.p2Session}`],
        ['GET', `/projects/${fx.p2}/sessions`],
        ['GET', `/sessions/${fx.p2Session}/acquisitions`],
        ['GET', `/sessions/${fx.p2Session}/analyses`],
        ['GET', `/acquisitions/${fx.p2Acq}/files/secret.txt`],
        ['GET', `/acquisitions/${fx.p2Acq}/files/secret.txt/info`],
        ['GET', `/projects/${fx.p2}/download?summary=true`],
        ['GET', `/projects/${fx.p2}/permissions`],
        ['GET', `/projects/${fx.q}`],
        ['GET', '/groups/elsewhere'],
        ['PUT', `/projects/${fx.p2}`, { label: 'pwned' }],
        ['DELETE', `/sessions/${fx.p2Session}`],
        ['POST', '/lookup', { path: ['lab', 'Other'] }],
        ['POST', '/lookup', { path: ['lab', 'Other', 'hidden-sub', 'hidden-ses', 'hidden-acq', 'files', 'secret.txt'] }],
        ['POST', '/lookup', { path: ['lab', `<id:${fx.p2}>`] }],
        ['POST', '/resolve', { path: ['lab', 'Other'] }],
        ['POST', '/resolve', { path: ['elsewhere'] }],
        ['POST', '/download', { nodes: [{ level: 'project', _id: fx.p2 }] }],
        [
          'POST',
          '/download',
          {
            nodes: [
              { level: 'project', _id: fx.project },
              { level: 'acquisition', _id: fx.p2Acq },
            ],
          },
        ],
        ['POST', '/sessions', { project: fx.p2, label: 'sneaky' }],
        ['POST', `/sessions/${fx.p2Session}/analyses`, { label: 'sneaky' }],
      ] as [string, string, unknown?][]) {
        const r = await a.request(method, p, body);
        expect(r.status, `${role} ${method} ${p} ${JSON.stringify(body ?? '')}`).toBe(404);
        expect(JSON.stringify(r.body)).not.toContain('hidden');
      }
    }
    // The untouched P2 is still intact.
    expect((await s.admin.get(`/projects/${fx.p2}`)).body.label).toBe('Other');
  });

  it('shows group-inherited access across every project of the group', async () => {
    expect((await ids(api.ro, '/projects')).sort()).toEqual([fx.project, fx.p2].sort());
    expect(await ids(api.ro, '/groups')).toEqual(['lab']);
    const resolved = (await api.ro.post('/resolve', { path: ['lab'] })).body;
    expect(resolved.children.map((c: any) => c.label).sort()).toEqual(['Other', 'Project']);
  });
});

describe('permission documents and custom roles', () => {
  it('returns permission and role documents in Flywheel shapes', async () => {
    expect((await api.admin.get(`/groups/lab/permissions/${uid.ro}`)).body).toEqual({ _id: uid.ro, access: 'ro' });
    expect((await api.admin.get(`/groups/lab/permissions/${uid.none}`)).status).toBe(404);
    expect((await api.admin.get(`/projects/${fx.project}/permissions/${uid.pAdmin}`)).body).toEqual({
      _id: uid.pAdmin,
      role_ids: ['admin'],
    });
    const role = (await api.ro.get('/roles/rw')).body;
    expect(role).toMatchObject({ _id: 'rw', label: 'read-write', default_flywheel_role: 'rw' });
    expect(role.actions).toContain('files_create_upload');
    expect(role.actions).not.toContain('containers_delete_project');
    const all = (await api.ro.get('/roles')).body as any[];
    expect(all.map((r) => r._id)).toEqual(expect.arrayContaining(['ro', 'rw', 'admin']));
    // The project document carries its role assignments, as Flywheel's Project model does.
    const project = (await api.roProj.get(`/projects/${fx.project}`)).body;
    expect(project.permissions).toEqual(
      expect.arrayContaining([
        { _id: uid.roProj, role_ids: ['ro'] },
        { _id: uid.pAdmin, role_ids: ['admin'] },
      ]),
    );
    expect((await api.admin.get(`/projects/${fx.project}/permissions`)).body).toEqual(
      expect.arrayContaining([{ _id: uid.roProj, role_ids: ['ro'] }]),
    );
    // List projections carry them too. A new project starts with its group's permissions of the
    // moment copied in (P2: only the admin who made the group; ro and rw joined the group later).
    const listed = (await api.ro.get('/projects')).body as any[];
    expect(listed.find((p) => p._id === fx.project).permissions).toEqual(project.permissions);
    expect(listed.find((p) => p._id === fx.p2).permissions).toEqual([{ _id: uid.admin, role_ids: ['admin'] }]);
  });

  it('honours each action of a custom role', async () => {
    const viewer = await makeUser(s, 'viewer@lab.org');
    const uploader = await makeUser(s, 'uploader@lab.org');
    const viewRole = ok(
      await s.admin.post('/roles', {
        label: 'viewer-download',
        actions: ['containers_view_metadata', 'files_view_metadata', 'files_download'],
      }),
    )._id;
    const metaOnly = ok(
      await s.admin.post('/roles', { label: 'metadata-only', actions: ['containers_view_metadata', 'files_view_metadata'] }),
    )._id;
    const upRole = ok(
      await s.admin.post('/roles', {
        label: 'uploader',
        actions: ['containers_view_metadata', 'files_view_metadata', 'files_create_upload', 'tags_manage', 'tags_view'],
      }),
    )._id;
    const doc = ok(await s.admin.get(`/roles/${viewRole}`));
    expect(Object.keys(doc)).toEqual(expect.arrayContaining(['_id', 'label', 'actions', 'default_flywheel_role']));
    expect(doc.default_flywheel_role).toBeNull();
    expect(doc.actions).toEqual(expect.arrayContaining(['containers_view_metadata', 'files_download']));
    expect(doc.actions).not.toContain('files_create_upload');
    expect((await s.admin.post('/roles', { label: 'bad', actions: ['fly_to_moon'] })).status).toBe(400);
    expect((await s.admin.post('/roles', { label: 'viewer-download', actions: [] })).status).toBe(409);

    ok(await s.admin.put(`/projects/${fx.project}/permissions/viewer@lab.org`, { role_ids: [viewRole] }));
    ok(await s.admin.put(`/projects/${fx.project}/permissions/uploader@lab.org`, { role_ids: [upRole] }));
    expect((await s.admin.get(`/projects/${fx.project}/permissions/viewer@lab.org`)).body).toEqual({
      _id: 'viewer@lab.org',
      role_ids: [viewRole],
    });

    const acq = `/acquisitions/${fx.acquisition}`;
    // viewer: sees and downloads, cannot upload or change anything
    expect((await viewer.get(acq)).status).toBe(200);
    expect((await viewer.get(`${acq}/files/${fx.file}`)).status).toBe(200);
    expect((await viewer.upload(`${acq}/files`, [{ name: 'v.txt', content: 'v' }])).status).toBe(403);
    expect((await viewer.put(acq, { label: 'x' })).status).toBe(403);
    expect((await viewer.post(`${acq}/tags`, { value: 'v' })).status).toBe(403);
    expect((await viewer.del(`${acq}/files/${fx.file}`)).status).toBe(403);
    expect((await viewer.get(`/projects/${fx.project}/download?summary=true`)).status).toBe(200);
    // uploader: uploads and tags, but may not download what is there
    expect((await uploader.upload(`${acq}/files`, [{ name: 'u.txt', content: 'u' }])).status).toBe(200);
    expect((await uploader.post(`${acq}/tags`, { value: 'from-uploader' })).status).toBe(200);
    expect((await uploader.get(`${acq}/files/${fx.file}`)).status).toBe(403);
    expect((await uploader.get(`/projects/${fx.project}/download?summary=true`)).status).toBe(403);
    expect((await uploader.get(`${acq}/files/${fx.file}/info`)).status).toBe(200);
    expect((await uploader.put(acq, { label: 'x' })).status).toBe(403);
    expect((await uploader.post('/subjects', { project: fx.project, label: 'nope' })).status).toBe(403);
    // Changing the assignment takes effect on the next request.
    ok(await s.admin.put(`/projects/${fx.project}/permissions/viewer@lab.org`, { role_ids: [metaOnly] }));
    expect((await viewer.get(`${acq}/files/${fx.file}/info`)).status).toBe(200);
    expect((await viewer.get(`${acq}/files/${fx.file}`)).status).toBe(403);
    // Roles combine: the union of their actions.
    ok(await s.admin.put(`/projects/${fx.project}/permissions/viewer@lab.org`, { role_ids: [metaOnly, upRole] }));
    expect((await viewer.upload(`${acq}/files`, [{ name: 'v2.txt', content: 'v' }])).status).toBe(200);
    // A role in use cannot be deleted; removing the assignment makes the project invisible again.
    expect((await s.admin.del(`/roles/${upRole}`)).status).toBe(409);
    ok(await s.admin.del(`/projects/${fx.project}/permissions/viewer@lab.org`));
    expect((await viewer.get(acq)).status).toBe(404);
    expect((await viewer.get('/projects')).body).toEqual([]);
    expect((await s.admin.put(`/projects/${fx.project}/permissions/viewer@lab.org`, { role_ids: ['no-such-role'] })).status).toBe(400);
    expect((await s.admin.put('/roles/rw', { label: 'hacked' })).status).toBe(403);
  });
});

describe('single-action roles', () => {
  /** One request per action: it needs that action and, beyond the baseline, nothing else. */
  const NEEDS: [string, (a: Api) => Promise<Reply>][] = [
    ['containers_create_hierarchy', (a) => a.post('/acquisitions', { session: fx.session, label: `made-${n()}` })],
    ['containers_modify_metadata', (a) => a.put(`/sessions/${fx.session}`, { operator: `op${n()}` })],
    [
      'containers_delete_hierarchy',
      async (a) => a.del(`/acquisitions/${ok(await s.admin.post('/acquisitions', { session: fx.session, label: `gone-${n()}` }))._id}`),
    ],
    ['analyses_view_metadata', (a) => a.get(`/analyses/${fx.analysis}`)],
    ['analyses_view_metadata', (a) => a.get(`/containers/${fx.analysis}`)],
    ['analyses_view_metadata', (a) => a.get(`/sessions/${fx.session}/analyses`)],
    ['analyses_view_metadata', (a) => a.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01', 'analyses', 'qa'] })],
    ['analyses_create_sdk', (a) => a.post(`/sessions/${fx.session}/analyses`, { label: `an-${n()}` })],
    ['analyses_modify_metadata', (a) => a.put(`/analyses/${fx.analysis}`, { description: `d${n()}` })],
    [
      'analyses_delete',
      async (a) => a.del(`/analyses/${ok(await s.admin.post(`/sessions/${fx.session}/analyses`, { label: `gone-${n()}` }))._id}`),
    ],
    ['files_download', (a) => a.get(`/acquisitions/${fx.acquisition}/files/${fx.file}`)],
    ['files_create_upload', (a) => a.upload(`/acquisitions/${fx.acquisition}/files`, [{ name: `single-${n()}.txt`, content: 's' }])],
    ['files_modify_metadata', (a) => a.post(`/acquisitions/${fx.acquisition}/files/${fx.file}/info`, { set: { by: n() } })],
    [
      'files_delete_non_device_data',
      async (a) => {
        const name = `gone-${n()}.txt`;
        ok(await s.admin.upload(`/acquisitions/${fx.acquisition}/files`, [{ name, content: 'g' }]));
        return a.del(`/acquisitions/${fx.acquisition}/files/${name}`);
      },
    ],
    ['tags_manage', (a) => a.post(`/acquisitions/${fx.acquisition}/tags`, { value: `tag${n()}` })],
    ['notes_manage', (a) => a.post(`/acquisitions/${fx.acquisition}/notes`, { text: 'single' })],
    ['project_permissions_manage', async (a) => a.put(`/projects/${fx.project}/permissions/${await freshUser()}`, { role_ids: ['ro'] })],
  ];

  it('grants exactly the action a role names, on top of the viewing baseline', async () => {
    const wrong: string[] = [];
    const holders: [string, Api][] = [];
    for (const action of ['(baseline only)', ...new Set(NEEDS.map(([a]) => a))]) {
      const role = ok(await s.admin.post('/roles', { label: `only ${action}`, actions: action.startsWith('(') ? [] : [action] }))._id;
      const user = `only-${holders.length}@lab.org`;
      const api = await makeUser(s, user);
      ok(await s.admin.put(`/projects/${fx.project}/permissions/${user}`, { role_ids: [role] }));
      holders.push([action, api]);
    }
    for (const [action, api] of holders) {
      // The baseline: the hierarchy, file lists, tags and notes are visible to every role.
      for (const p of [
        `/projects/${fx.project}`,
        `/acquisitions/${fx.acquisition}/files/${fx.file}/info`,
        `/acquisitions/${fx.acquisition}/tags`,
        `/projects/${fx.project}/permissions`,
      ]) {
        const r = await api.get(p);
        if (r.status !== 200) wrong.push(`${action}: GET ${p} → ${r.status}`);
      }
      for (const [needed, run] of NEEDS) {
        const r = await run(api);
        const want = needed === action ? 200 : 403;
        if (r.status !== want)
          wrong.push(
            `role with ${action}: request needing ${needed} → ${r.status} (expected ${want}) ${JSON.stringify(r.body).slice(0, 120)}`,
          );
      }
    }
    expect(wrong).toEqual([]);
    // The analyses listing shows analyses only to roles that may see them.
    const listed = async (action: string) => ((await holders.find(([a]) => a === action)![1].get('/analyses')).body as any[]).length;
    expect(await listed('(baseline only)')).toBe(0);
    expect(await listed('analyses_view_metadata')).toBeGreaterThan(0);
    // Downloading the project without analyses_view_metadata leaves the analyses' files out.
    const analysisFiles = ((await s.admin.get('/analyses')).body as any[])
      .filter((a) => a.parents.project === fx.project)
      .reduce((sum, a) => sum + a.files.length, 0);
    expect(analysisFiles).toBeGreaterThan(0);
    const all = (await s.admin.get(`/projects/${fx.project}/download?summary=true`)).body.file_cnt;
    const downloader = holders.find(([a]) => a === 'files_download')![1];
    expect((await downloader.get(`/projects/${fx.project}/download?summary=true`)).body.file_cnt).toBe(all - analysisFiles);
  });
});

describe('keeping permissions manageable', () => {
  it('keeps a group admin and unique role labels', async () => {
    ok(await s.admin.post('/groups', { _id: 'solo' }));
    // The creator is the group's only admin: neither removing nor downgrading them is allowed.
    expect((await s.admin.put(`/groups/solo/permissions/${uid.admin}`, { access: 'rw' })).status).toBe(409);
    expect((await s.admin.del(`/groups/solo/permissions/${uid.admin}`)).status).toBe(409);
    ok(await s.admin.put(`/groups/solo/permissions/${uid.rw}`, { access: 'admin' }));
    expect((await s.admin.put(`/groups/solo/permissions/${uid.admin}`, { access: 'rw' })).status).toBe(200);
    expect((await s.admin.get('/groups/solo/permissions')).body).toEqual([
      { _id: uid.admin, access: 'rw' },
      { _id: uid.rw, access: 'admin' },
    ]);
    const a = ok(await s.admin.post('/roles', { label: 'role-a', actions: [] }))._id;
    ok(await s.admin.post('/roles', { label: 'role-b', actions: [] }));
    expect((await s.admin.put(`/roles/${a}`, { label: 'role-b' })).status).toBe(409);
    expect((await s.admin.put(`/roles/${a}`, { label: 'role-a', actions: ['files_download'] })).status).toBe(200);
    expect((await s.admin.get(`/roles/${a}`)).body.actions).toContain('files_download');
  });
});

// Last: the matrix leaves extra projects, users and files behind that the checks above would trip over.
/** The same families on every container type: list, get, info, tags, notes, files. */
const PER_TYPE: [string, (id: string, plural: string) => Omit<Case, 'run'> & { run: (a: Api) => Promise<Reply> }][] = [
  ['list', (_id, plural) => ({ name: `GET /${plural}`, expect: ANY_USER, run: (a) => a.get(`/${plural}`) })],
  ['get', (id, plural) => ({ name: `GET /${plural}/id`, expect: READ, run: (a) => a.get(`/${plural}/${id}`) })],
  [
    'info',
    (id, plural) => ({ name: `POST /${plural}/id/info`, expect: WRITE, run: (a) => a.post(`/${plural}/${id}/info`, { set: { k: n() } }) }),
  ],
  ['tags', (id, plural) => ({ name: `GET /${plural}/id/tags`, expect: READ, run: (a) => a.get(`/${plural}/${id}/tags`) })],
  [
    'tag',
    (id, plural) => ({ name: `POST /${plural}/id/tags`, expect: WRITE, run: (a) => a.post(`/${plural}/${id}/tags`, { value: `t${n()}` }) }),
  ],
  [
    'note',
    (id, plural) => ({ name: `POST /${plural}/id/notes`, expect: WRITE, run: (a) => a.post(`/${plural}/${id}/notes`, { text: 'n' }) }),
  ],
  [
    'read note',
    (id, plural) => ({
      name: `GET /${plural}/id/notes/nid`,
      expect: READ,
      run: async (a) => a.get(`/${plural}/${id}/notes/${ok(await s.admin.post(`/${plural}/${id}/notes`, { text: 'by admin' }))._id}`),
    }),
  ],
  [
    'upload',
    (id, plural) => ({
      name: `POST /${plural}/id/files`,
      expect: WRITE,
      run: (a) => a.upload(`/${plural}/${id}/files`, [{ name: `u${n()}.txt`, content: 'u' }]),
    }),
  ],
  [
    'download',
    (id, plural) => ({ name: `GET /${plural}/id/files/each.txt`, expect: READ, run: (a) => a.get(`/${plural}/${id}/files/each.txt`) }),
  ],
  [
    'file info',
    (id, plural) => ({
      name: `GET /${plural}/id/files/each.txt/info`,
      expect: READ,
      run: (a) => a.get(`/${plural}/${id}/files/each.txt/info`),
    }),
  ],
  [
    'file delete',
    (id, plural) => ({
      name: `DELETE /${plural}/id/files/x`,
      expect: WRITE,
      run: async (a) => {
        const name = `d${n()}.txt`;
        ok(await s.admin.upload(`/${plural}/${id}/files`, [{ name, content: 'd' }]));
        return a.del(`/${plural}/${id}/files/${name}`);
      },
    }),
  ],
  [
    'subtree download',
    (id, plural) => ({
      name: `GET /${plural}/id/download?summary`,
      expect: READ,
      run: (a) => a.get(`/${plural}/${id}/download?summary=true`),
    }),
  ],
];

describe('permission matrix', () => {
  it(`answers every (role, request) pair as expected (${CASES.length} + ${PER_TYPE.length * 5} requests × ${ROLES.length} roles)`, async () => {
    const wrong: string[] = [];
    const perType = containerIds().flatMap(([plural, id]) => PER_TYPE.map(([, make]) => make(id, plural)));
    for (const c of [...CASES, ...perType]) {
      for (const role of ROLES) {
        const r = await c.run(api[role], role);
        if (r.status !== c.expect[role])
          wrong.push(`${c.name} as ${role}: ${r.status} (expected ${c.expect[role]}) ${JSON.stringify(r.body).slice(0, 160)}`);
        else if (r.status >= 400) {
          // Refusals are JSON errors like any other.
          if (r.body?.status !== r.status || typeof r.body?.message !== 'string')
            wrong.push(`${c.name} as ${role}: error body ${JSON.stringify(r.body)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});
