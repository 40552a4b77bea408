import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addGear, EngineSim, engineKeyOf, gearArchive, manifest, uploadArchive } from './gear-kit.js';
import { type Api, makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

/**
 * Attacks on what each key may do (issue 9, part B): each test performs the attack as it was found
 * and checks that it no longer works, beside what the key is for still working.
 */

let s: TestServer;
let engine: EngineSim;
/** alice: rw on lab A and on lab C; no access to lab B. */
let alice: Api;
let A: Awaited<ReturnType<typeof makeHierarchy>>;
let B: Awaited<ReturnType<typeof makeHierarchy>>;
let C: Awaited<ReturnType<typeof makeHierarchy>>;

beforeAll(async () => {
  s = await startTestServer();
  engine = new EngineSim(s.as(engineKeyOf(s)));
  alice = await makeUser(s, 'alice@sec.org');
  A = await makeHierarchy(s.admin);
  B = await makeHierarchy(s.admin);
  C = await makeHierarchy(s.admin);
  ok(await s.admin.post(`/groups/${A.group}/permissions`, { _id: 'alice@sec.org', access: 'rw' }));
  ok(await s.admin.post(`/groups/${C.group}/permissions`, { _id: 'alice@sec.org', access: 'rw' }));
  ok(await s.admin.upload(`/acquisitions/${A.acquisition}/files`, [{ name: 'in.nii.gz', content: 'input of A' }]));
  ok(await s.admin.upload(`/acquisitions/${B.acquisition}/files`, [{ name: 'secret.nii.gz', content: 'B only' }]));
});
afterAll(async () => {
  await s?.stop();
});

/** Queues a job of a fresh gear and has `eng` claim it; returns the job as claimed. */
async function running(eng: EngineSim, launcher: Api, m: Record<string, any>, body: Record<string, unknown>): Promise<any> {
  const gear = await addGear(s.admin, m);
  const id = ok(await launcher.post('/jobs/add', { gear_id: gear, ...body }))._id;
  const [job] = await eng.ask({ whitelist: { 'gear-name': [m.name] } });
  expect(job.id).toBe(id);
  return job;
}

describe('job keys act only on the data of their job', () => {
  let job: any;
  let rw: Api;
  let ro: Api;
  let aliceOtherKey: { id: string; key: string };

  beforeAll(async () => {
    aliceOtherKey = ok(await alice.post('/users/self/key', { label: 'laptop' }));
    const m = manifest({ inputs: { rw: { base: 'api-key' }, ro: { base: 'api-key', 'read-only': true } } });
    job = await running(engine, alice, m, { destination: { type: 'acquisition', id: A.acquisition } });
    const config = ok(await engine.api.get(`/jobs/${job.id}/config.json`));
    rw = s.as(config.inputs.rw.key);
    ro = s.as(config.inputs.ro.key);
  });
  afterAll(async () => {
    ok(await engine.complete(job.id, true));
  });

  it('a read-only job key cannot revoke its launcher’s other key', async () => {
    const r = await ro.del(`/users/self/keys/${aliceOtherKey.id}`);
    expect(r.status).toBe(403);
    expect(r.body.message).toMatch(/job keys .* may only read and change data/);
    expect((await rw.del(`/users/self/keys/${aliceOtherKey.id}`)).status).toBe(403);
    expect((await s.as(aliceOtherKey.key).get('/users/self')).status).toBe(200);
  });

  it('a read-write job key cannot change its launcher’s profile', async () => {
    expect((await rw.put('/users/alice@sec.org', { firstname: 'pwned' })).status).toBe(403);
    expect(ok(await alice.get('/users/self')).firstname).toBe('Test');
  });

  it('never reaches keys, users, permissions, roles, gears, rules, devices or batches', async () => {
    const gearArchiveBytes = await gearArchive(manifest());
    const attempts: [string, string, unknown?][] = [
      ['POST', '/users/self/key', {}],
      ['GET', '/users/self/keys'],
      ['GET', '/users/self/jobs'],
      ['GET', '/users'],
      ['GET', '/users/admin@sprocket.local'],
      ['POST', `/users/alice@sec.org/key`, {}],
      ['POST', `/groups/${A.group}/permissions`, { _id: 'mallory@sec.org', access: 'admin' }],
      ['PUT', `/groups/${A.group}`, { label: 'renamed' }],
      ['POST', '/groups', { _id: 'newgroup', label: 'x' }],
      ['POST', `/projects/${A.project}/permissions`, { _id: 'alice@sec.org', access: 'admin' }],
      ['GET', `/projects/${A.project}/permissions`],
      ['POST', `/projects/${A.project}/rules`, { name: 'r', gear_id: job.gear_id, any: [] }],
      ['GET', `/projects/${A.project}/rules`],
      ['GET', '/roles'],
      ['POST', '/roles', { label: 'x', actions: [] }],
      ['DELETE', `/gears/${job.gear_id}`],
      ['GET', `/gears/${job.gear_id}/archive`],
      ['GET', '/devices'],
      ['POST', '/devices', { name: 'x' }],
      ['GET', '/batch'],
      ['GET', '/jobs'],
      ['PUT', `/jobs/${job.id}`, { state: 'cancelled' }],
      ['POST', `/jobs/${job.id}/logs`, []],
    ];
    for (const [method, p, body] of attempts) {
      const r = await rw.request(method, p, body);
      expect(r.status, `${method} ${p}`).toBe(403);
    }
    expect((await uploadArchive(rw, gearArchiveBytes)).status).toBe(403);
  });

  it('still does the job’s data work: reads, uploads, info, tags, notes; knows its user', async () => {
    expect(ok(await rw.get('/users/self'))._id).toBe('alice@sec.org');
    expect(ok(await rw.upload(`/acquisitions/${A.acquisition}/files`, [{ name: 'by-gear.txt', content: 'x' }]))[0].origin).toMatchObject({
      type: 'job',
      id: job.id,
    });
    ok(await rw.post(`/acquisitions/${A.acquisition}/info`, { set: { qa: 'pass' } }));
    ok(await rw.post(`/acquisitions/${A.acquisition}/tags`, { value: 'qa-done' }));
    ok(await rw.post(`/sessions/${A.session}/notes`, { text: 'checked' }));
    expect((await rw.bytes(`/acquisitions/${A.acquisition}/files/in.nii.gz`)).data.toString()).toBe('input of A');
    expect(ok(await ro.post('/lookup', { path: [A.group, 'Project'] }))._id).toBe(A.project);
    expect((await ro.upload(`/acquisitions/${A.acquisition}/files`, [{ name: 'ro.txt', content: 'x' }])).status).toBe(403);
  });

  it('sees only its job’s projects, not everything its user may', async () => {
    // alice has rw on lab C too, but this job does not touch it.
    expect(ok(await alice.get(`/projects/${C.project}`))._id).toBe(C.project);
    expect((await rw.get(`/projects/${C.project}`)).status).toBe(404);
    expect((await rw.upload(`/acquisitions/${C.acquisition}/files`, [{ name: 'x.txt', content: 'x' }])).status).toBe(404);
    expect((await rw.post('/projects', { group: C.group, label: 'planted' })).status).toBeGreaterThanOrEqual(403);
    const listed = ok(await rw.get('/projects')).map((p: any) => p._id);
    expect(listed).toContain(A.project);
    expect(listed).not.toContain(C.project);
  });
});

describe('engine keys read and write only the jobs they run, while they run', () => {
  let other: EngineSim;
  let job: any;

  beforeAll(async () => {
    other = new EngineSim(s.as(ok(await s.admin.post('/devices', { name: 'lab-box' })).key), 'lab-box/1');
    job = await running(other, s.admin, manifest({ inputs: { image: { base: 'file' } } }), {
      inputs: { image: { type: 'acquisition', id: A.acquisition, name: 'in.nii.gz' } },
    });
  });

  it('reads its running job’s input, gear and config', async () => {
    expect((await other.api.bytes(job.request.inputs[0].uri)).data.toString()).toBe('input of A');
    expect((await other.api.bytes(job.request.gear.archive)).status).toBe(200);
    expect((await other.api.get(`/jobs/${job.id}/config.json`)).status).toBe(200);
  });

  it('cannot read any other file on the site, another version, or another engine’s job', async () => {
    const secret = await other.api.bytes(`/acquisitions/${B.acquisition}/files/secret.nii.gz`);
    expect(secret.status).toBe(403);
    expect(secret.data.toString()).not.toContain('B only');
    expect((await other.api.bytes(`/acquisitions/${A.acquisition}/files/by-gear.txt`)).status).toBe(403);
    expect((await other.api.bytes(`/acquisitions/${A.acquisition}/files/in.nii.gz?version=99`)).status).toBe(403);
    expect((await other.api.get(`/acquisitions/${A.acquisition}/files/in.nii.gz?ticket=`)).status).toBe(403);
    // A job on the local engine: its gear and config are not this engine's to read.
    const theirs = await running(engine, s.admin, manifest({ inputs: { image: { base: 'file' } } }), {
      inputs: { image: { type: 'acquisition', id: B.acquisition, name: 'secret.nii.gz' } },
    });
    expect((await other.api.bytes(theirs.request.inputs[0].uri)).status).toBe(403);
    expect((await other.api.bytes(theirs.request.gear.archive)).status).toBe(403);
    expect((await other.api.get(`/jobs/${theirs.id}/config.json`)).status).toBe(404);
    ok(await engine.complete(theirs.id, true));
  });

  it('cannot append to, profile or read a job once it has completed', async () => {
    ok(await other.finish(job, true));
    const late = await other.heartbeat(job.id, [{ fd: 1, msg: 'forged line after the end' }]);
    expect(late.status).toBe(409);
    expect(late.body.message).toMatch(/is complete; its log takes lines only while it runs/);
    const log = ok(await s.admin.get(`/jobs/${job.id}/logs`)).logs.map((l: any) => l.msg);
    expect(log.join('')).not.toContain('forged');
    expect((await other.api.put(`/jobs/${job.id}/profile`, { forged: true })).status).toBe(409);
    expect(ok(await s.admin.get(`/jobs/${job.id}`)).profile.forged).toBeUndefined();
    expect((await other.api.bytes(job.request.inputs[0].uri)).status).toBe(403);
    expect((await other.api.get(`/jobs/${job.id}`)).status).toBe(404);
  });
});

describe('lookup answers a hidden path exactly like a missing one', () => {
  it('same status and message shape for an invisible project, subject or group as for an unknown one; no id', async () => {
    const ivy = await makeUser(s, 'ivy@sec.org');
    // ivy sees lab A's group through a project of her own there, not the lab's 'Project'.
    const mine = ok(await s.admin.post('/projects', { group: A.group, label: 'Ivy' }))._id;
    ok(await s.admin.post(`/projects/${mine}/permissions`, { _id: 'ivy@sec.org', access: 'ro' }));
    const hidden = ok(await s.admin.post('/projects', { group: A.group, label: 'Hidden.v2' }))._id;
    const pairs: [string[], string[]][] = [
      [
        [A.group, 'Project'],
        [A.group, 'Nonesuch'],
      ],
      [
        [A.group, 'Hidden.v2'],
        [A.group, 'Absent.v2'],
      ],
      [
        [A.group, 'Project', 'sub-01', 'ses-01'],
        [A.group, 'Nonesuch', 'sub-01', 'ses-01'],
      ],
      [
        [A.group, `<id:${A.project}>`],
        [A.group, '<id:0123456789abcdef01234567>'],
      ],
      [
        [B.group, 'Project'],
        ['nosuchgroup', 'Project'],
      ],
    ];
    for (const route of ['/lookup', '/resolve']) {
      for (const [seen, unseen] of pairs) {
        const a = await ivy.post(route, { path: seen });
        const b = await ivy.post(route, { path: unseen });
        expect([a.status, b.status], `${route} ${seen.join('/')}`).toEqual([404, 404]);
        expect(a.body.code).toBe(b.body.code);
        // The messages differ only by the path the caller sent.
        const shape = (msg: string, p: string[]) =>
          msg
            .replaceAll(p.join('/'), '<path>')
            .replaceAll(p[1] ?? '', '<seg>')
            .replaceAll(p[0]!, '<group>');
        expect(shape(a.body.message, seen), `${route} ${seen.join('/')}`).toBe(shape(b.body.message, unseen));
        for (const id of [A.project, A.subject, A.session, hidden, B.project]) {
          if (!seen.join('/').includes(id)) expect(a.body.message).not.toContain(id);
        }
      }
    }
  });
});

describe('job documents redact what the reader may not see', () => {
  it('a destination-project reader sees no name, info, hash or container id of an input from a project hidden to them', async () => {
    const dan = await makeUser(s, 'dan@sec.org');
    ok(await s.admin.post(`/groups/${C.group}/permissions`, { _id: 'dan@sec.org', access: 'ro' }));
    const hiddenName = 'patient-jane-doe-t1.nii.gz';
    ok(
      await s.admin.upload(`/acquisitions/${B.acquisition}/files`, [{ name: hiddenName, content: 'jane' }], {
        info: { PatientName: 'Jane Doe' },
      }),
    );
    ok(await s.admin.upload(`/acquisitions/${C.acquisition}/files`, [{ name: 'visible.txt', content: 'v' }]));
    const stored = ok(await s.admin.get(`/acquisitions/${B.acquisition}/files/${hiddenName}/info`));
    const m = manifest({ inputs: { scan: { base: 'file' }, notes: { base: 'file' } } });
    const job = await running(engine, s.admin, m, {
      inputs: {
        scan: { type: 'acquisition', id: B.acquisition, name: hiddenName },
        notes: { type: 'acquisition', id: C.acquisition, name: 'visible.txt' },
      },
      destination: { type: 'acquisition', id: C.acquisition },
    });
    const secrets = [hiddenName, 'Jane Doe', stored.hash, B.acquisition, B.session, B.subject, B.project].filter(Boolean);
    const leaks = (doc: unknown) => secrets.filter((x) => JSON.stringify(doc).includes(x));

    const docs = {
      job: ok(await dan.get(`/jobs/${job.id}`)),
      detail: ok(await dan.get(`/jobs/${job.id}/detail`)),
      config: ok(await dan.get(`/jobs/${job.id}/config.json`)),
      list: ok(await dan.get(`/acquisitions/${C.acquisition}/jobs`)),
    };
    for (const [what, doc] of Object.entries(docs)) expect(leaks(doc), what).toEqual([]);
    // The input's name key stays, marked; the input dan may see is whole.
    expect(docs.job.inputs.scan).toEqual({ type: 'acquisition', redacted: true });
    expect(docs.job.inputs.notes).toMatchObject({ id: C.acquisition, name: 'visible.txt' });
    expect(docs.config.inputs.scan).toEqual({ base: 'file', redacted: true });
    expect(docs.job.request.inputs.map((i: any) => i.input)).toEqual(['notes']);
    expect(docs.detail.inputs.notes.name).toBe('visible.txt');
    // A site admin sees it whole.
    expect(ok(await s.admin.get(`/jobs/${job.id}`)).inputs.scan).toMatchObject({ id: B.acquisition, name: hiddenName });
    ok(await engine.complete(job.id, true));
  });

  it('an analysis’s copies of input files from a hidden project are redacted on every path that shows the analysis', async () => {
    const erin = await makeUser(s, 'erin@sec.org');
    ok(await s.admin.post(`/groups/${C.group}/permissions`, { _id: 'erin@sec.org', access: 'ro' }));
    const hiddenName = 'patient-john-roe-t2.nii.gz';
    ok(
      await s.admin.upload(`/acquisitions/${B.acquisition}/files`, [{ name: hiddenName, content: 'john' }], {
        info: { PatientName: 'John Roe' },
      }),
    );
    ok(await s.admin.upload(`/acquisitions/${C.acquisition}/files`, [{ name: 'seen.txt', content: 's' }]));
    const hash = ok(await s.admin.get(`/acquisitions/${B.acquisition}/files/${hiddenName}/info`)).hash;
    const { _id: aid } = ok(
      await s.admin.post(`/sessions/${C.session}/analyses`, {
        label: 'cross-project',
        inputs: [
          { type: 'acquisition', id: B.acquisition, name: hiddenName },
          { type: 'acquisition', id: C.acquisition, name: 'seen.txt' },
        ],
      }),
    );
    const secrets = [hiddenName, 'John Roe', hash, B.acquisition];
    const leaks = (doc: unknown) => secrets.filter((x) => JSON.stringify(doc).includes(x));
    const session = ok(await erin.get(`/sessions/${C.session}`));
    const project = ok(await erin.get(`/projects/${session.project}`));
    const docs = {
      get: ok(await erin.get(`/sessions/${C.session}/analyses/${aid}`)),
      list: ok(await erin.get(`/sessions/${C.session}/analyses`)),
      all: ok(await erin.get('/analyses')),
      byId: ok(await erin.get(`/analyses/${aid}`)),
      session,
      lookup: ok(
        await erin.post('/lookup', { path: [C.group, project.label, session.subject.code, session.label, 'analyses', 'cross-project'] }),
      ),
    };
    for (const [what, doc] of Object.entries(docs)) expect(leaks(doc), what).toEqual([]);
    expect(docs.get.inputs).toHaveLength(2);
    expect(docs.get.inputs[0]).toEqual({ type: 'nifti', redacted: true });
    expect(docs.get.inputs[1]).toMatchObject({ name: 'seen.txt' });
    expect(ok(await s.admin.get(`/sessions/${C.session}/analyses/${aid}`)).inputs[0]).toMatchObject({ name: hiddenName });
  });
});

describe('download tickets', () => {
  it('stop working once the permission behind them is removed, within their lifetime', async () => {
    const fred = await makeUser(s, 'fred@sec.org');
    ok(await s.admin.post(`/groups/${B.group}/permissions`, { _id: 'fred@sec.org', access: 'ro' }));
    const url = `/acquisitions/${B.acquisition}/files/secret.nii.gz`;
    const ticket = ok(await fred.get(`${url}?ticket=`)).ticket;
    const bulk = ok(await fred.post('/download', { nodes: [{ level: 'acquisition', _id: B.acquisition }] })).ticket;
    expect((await s.anon.bytes(`${url}?ticket=${encodeURIComponent(ticket)}`)).data.toString()).toBe('B only');
    ok(await s.admin.del(`/groups/${B.group}/permissions/fred@sec.org`));
    const after = await s.anon.bytes(`${url}?ticket=${encodeURIComponent(ticket)}`);
    expect(after.status).toBe(404);
    expect(after.data.toString()).not.toContain('B only');
    expect((await s.anon.bytes(`/download?ticket=${encodeURIComponent(bulk)}`)).status).toBe(404);
  });

  it('die with the key that asked for them', async () => {
    const gil = await makeUser(s, 'gil@sec.org');
    ok(await s.admin.post(`/groups/${A.group}/permissions`, { _id: 'gil@sec.org', access: 'ro' }));
    const url = `/acquisitions/${A.acquisition}/files/in.nii.gz`;
    const ticket = ok(await gil.get(`${url}?ticket=`)).ticket;
    const keyId = ok(await gil.get('/users/self/keys'))[0]._id;
    ok(await s.admin.del(`/users/gil@sec.org/keys/${keyId}`));
    const r = await s.anon.get(`${url}?ticket=${encodeURIComponent(ticket)}`);
    expect(r.status).toBe(401);
    expect(r.body.message).toMatch(/ticket is no longer valid/);
  });
});

describe('priorities above medium', () => {
  it('need a project admin or a site admin at launch, on PUT /jobs/{id} and in batches', async () => {
    const g = await addGear(s.admin, manifest());
    const dest = { type: 'acquisition', id: A.acquisition };
    for (const priority of ['high', 'critical']) {
      const r = await alice.post('/jobs/add', { gear_id: g, destination: dest, priority });
      expect(r.status, priority).toBe(403);
      expect(r.body.message).toContain(`'${priority}' priority needs a site admin or an admin of the destination's project`);
    }
    const mine = ok(await alice.post('/jobs/add', { gear_id: g, destination: dest, priority: 'medium' }))._id;
    const raise = await alice.put(`/jobs/${mine}`, { priority: 'critical' });
    expect(raise.status).toBe(403);
    expect(raise.body.message).toContain("'critical'");
    expect(ok(await alice.get(`/jobs/${mine}`)).priority).toBe('medium');
    ok(await alice.put(`/jobs/${mine}`, { priority: 'low' }));
    const proposal = ok(
      await alice.post('/batch', { gear_id: g, targets: [{ type: 'acquisition', id: A.acquisition }], priority: 'critical' }),
    );
    // The proposal already says so: the container is one alice may not launch on at that priority.
    expect(proposal.improper_permissions).toHaveLength(1);
    expect(proposal.matched).toEqual([]);
    expect(ok(await alice.post(`/batch/${proposal._id}/run`))).toEqual([]);
    // A project admin and a site admin may.
    const pam = await makeUser(s, 'pam@sec.org');
    ok(await s.admin.post(`/projects/${A.project}/permissions`, { _id: 'pam@sec.org', access: 'admin' }));
    const urgent = ok(await pam.post('/jobs/add', { gear_id: g, destination: dest, priority: 'critical' }))._id;
    expect(ok(await pam.get(`/jobs/${urgent}`)).priority).toBe('critical');
    ok(await s.admin.put(`/jobs/${mine}`, { priority: 'high' }));
    for (const id of [mine, urgent]) ok(await s.admin.put(`/jobs/${id}`, { state: 'cancelled' }));
  });

  it('rules run as their author: a rule author without project admin gets no critical jobs', async () => {
    const manager = ok(
      await s.admin.post('/roles', {
        label: 'rule manager',
        actions: ['containers_view_metadata', 'files_view_metadata', 'gear_rules_view', 'gear_rules_manage'],
      }),
    )._id;
    const rita = await makeUser(s, 'rita@sec.org');
    ok(await s.admin.post(`/projects/${A.project}/permissions`, { _id: 'rita@sec.org', role_ids: [manager] }));
    const g = await addGear(s.admin, manifest({ inputs: { file: { base: 'file' } } }));
    const theirs = ok(
      await rita.post(`/projects/${A.project}/rules`, {
        name: 'urgent',
        gear_id: g,
        any: [{ type: 'file.name', value: 'urgent-*' }],
        priority: 'critical',
      }),
    )._id;
    // Another gear: one file runs a gear once, whichever rule asks first.
    const g2 = await addGear(s.admin, manifest({ inputs: { file: { base: 'file' } } }));
    const admins = ok(
      await s.admin.post(`/projects/${A.project}/rules`, {
        name: 'urgent-admin',
        gear_id: g2,
        any: [{ type: 'file.name', value: 'urgent-*' }],
        priority: 'critical',
      }),
    )._id;
    ok(await s.admin.upload(`/acquisitions/${A.acquisition}/files`, [{ name: 'urgent-1.txt', content: 'x' }]));
    const jobsOf = async (rid: string) => ok(await s.admin.get(`/jobs?filter=origin.id=rule:${rid}`)) as any[];
    expect(await jobsOf(theirs)).toEqual([]);
    const launched = await jobsOf(admins);
    expect(launched.map((j) => j.priority)).toEqual(['critical']);
    for (const j of launched) ok(await s.admin.put(`/jobs/${j.id}`, { state: 'cancelled' }));
  });
});

describe('disabling a user', () => {
  it('revokes their keys for good: re-enabling brings none back, a new key is needed', async () => {
    const kim = await makeUser(s, 'kim@sec.org');
    const second = s.as(ok(await kim.post('/users/self/key', {})).key);
    expect((await kim.get('/users/self')).status).toBe(200);
    ok(await s.admin.put('/users/kim@sec.org', { disabled: true }));
    const locked = await kim.get('/users/self');
    expect(locked.status).toBe(401);
    expect(locked.body.message).toContain('disabled');
    ok(await s.admin.put('/users/kim@sec.org', { disabled: false }));
    expect((await kim.get('/users/self')).status).toBe(401);
    expect((await second.get('/users/self')).status).toBe(401);
    const keys = ok(await s.admin.get('/users/kim@sec.org/keys')) as any[];
    expect(keys.every((k) => k.revoked)).toBe(true);
    const fresh = s.as(ok(await s.admin.post('/users/kim@sec.org/key', {})).key);
    expect(ok(await fresh.get('/users/self'))._id).toBe('kim@sec.org');
  });
});

describe('data at rest', () => {
  /** Every directory and file under `root` whose mode lets anyone but the owner in. */
  function exposed(root: string): string[] {
    const out: string[] = [];
    const walk = (p: string) => {
      const st = fs.statSync(p);
      if ((st.mode & 0o077) !== 0 || (st.isDirectory() ? (st.mode & 0o700) !== 0o700 : (st.mode & 0o777) !== 0o600))
        out.push(`${path.relative(root, p) || '.'} ${(st.mode & 0o777).toString(8)}`);
      if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
    };
    walk(root);
    return out;
  }

  it('the data directory is 0700 and every file in it 0600, after start and an upload', async () => {
    const h = await makeHierarchy(s.admin);
    ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'scan.nii.gz', content: 'private' }]));
    expect((fs.statSync(s.dataDir).mode & 0o777).toString(8)).toBe('700');
    expect(exposed(s.dataDir)).toEqual([]);
    if (!process.env.SPROCKET_TEST_DATABASE_URL?.startsWith('postgres')) {
      for (const f of ['sprocket.db', 'sprocket.db-wal', 'sprocket.db-shm'])
        expect((fs.statSync(path.join(s.dataDir, f)).mode & 0o777).toString(8), f).toBe('600');
    }
  });

  it('an existing, wider data directory is narrowed at start', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-wide-'));
    fs.chmodSync(dir, 0o755);
    const sqlite = !process.env.SPROCKET_TEST_DATABASE_URL?.startsWith('postgres');
    // An empty file is a valid new SQLite database; on PostgreSQL the data directory holds none.
    if (sqlite) fs.writeFileSync(path.join(dir, 'sprocket.db'), '');
    if (sqlite) fs.chmodSync(path.join(dir, 'sprocket.db'), 0o644);
    const o = await startTestServer({ dataDir: dir });
    try {
      ok(await o.admin.upload(`/projects/${(await makeHierarchy(o.admin)).project}/files`, [{ name: 'x.txt', content: 'x' }]));
      expect(exposed(dir)).toEqual([]);
    } finally {
      await o.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a data directory every user may write to, instead of narrowing or using it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-shared-'));
    fs.chmodSync(dir, 0o1777);
    try {
      await expect(startTestServer({ dataDir: dir })).rejects.toThrow(
        /is writable by every user \(mode 1777\): give Sprocket a directory of its own/,
      );
      expect(fs.statSync(dir).mode & 0o7777).toBe(0o1777);
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
