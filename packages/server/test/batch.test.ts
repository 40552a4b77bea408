import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addGear, EngineSim, engineKeyOf, manifest } from './gear-kit.js';
import { type Api, makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

let s: TestServer;
let engine: EngineSim;
let alice: Api;
let bob: Api;
/** Project A (alice rw): session 1 holds a0 and a4 (empty), a1 (one NIfTI), a2 (two), a3 (text only); session 2 holds a5 (one). */
const A: Record<string, string> = {};
/** Project B (alice read-only): b1 with one NIfTI. */
const B: Record<string, string> = {};

async function acquisition(api: Api, session: string, label: string, files: string[]): Promise<string> {
  const id = ok(await api.post('/acquisitions', { session, label }))._id;
  if (files.length)
    ok(
      await api.upload(
        `/acquisitions/${id}/files`,
        files.map((name) => ({ name, content: `content of ${name}` })),
      ),
    );
  return id;
}

beforeAll(async () => {
  s = await startTestServer();
  engine = new EngineSim(s.as(engineKeyOf(s)));
  alice = await makeUser(s, 'alice@batch.org');
  bob = await makeUser(s, 'bob@batch.org');
  const ha = await makeHierarchy(s.admin);
  const hb = await makeHierarchy(s.admin);
  ok(await s.admin.post(`/groups/${ha.group}/permissions`, { _id: 'alice@batch.org', access: 'rw' }));
  ok(await s.admin.post(`/groups/${hb.group}/permissions`, { _id: 'alice@batch.org', access: 'ro' }));
  Object.assign(A, { project: ha.project, session1: ha.session, a0: ha.acquisition });
  A.session2 = ok(await s.admin.post('/sessions', { project: ha.project, subject: { _id: ha.subject }, label: 'ses-02' }))._id;
  A.a1 = await acquisition(s.admin, A.session1!, 'a1', ['t1.nii.gz', 'notes.txt']);
  A.a2 = await acquisition(s.admin, A.session1!, 'a2', ['run1.nii.gz', 'run2.nii.gz']);
  A.a3 = await acquisition(s.admin, A.session1!, 'a3', ['notes.txt']);
  A.a4 = await acquisition(s.admin, A.session1!, 'a4', []);
  A.a5 = await acquisition(s.admin, A.session2!, 'a5', ['t1.nii.gz', 'mask.txt']);
  Object.assign(B, { project: hb.project });
  B.b0 = hb.acquisition;
  B.b1 = await acquisition(s.admin, hb.session, 'b1', ['t1.nii.gz']);
});
afterAll(async () => {
  await s?.stop();
});

/** A gear with one required NIfTI input (and whatever `over` adds). */
async function niftiGear(over: Record<string, unknown> = {}): Promise<{ id: string; name: string }> {
  const m = manifest({
    inputs: { image: { base: 'file', type: { enum: ['nifti'] } } },
    config: { level: { type: 'integer', default: 1 } },
    ...over,
  });
  return { id: await addGear(s.admin, m), name: m.name };
}

const ids = (list: any[]) => list.map((c) => c._id).sort();

/** Finishes every job of a gear the engine can claim: `verdict(job)` → [success, exit code]. */
async function finishAll(gearName: string, verdict: (job: any) => [boolean, number]): Promise<string[]> {
  const done: string[] = [];
  for (;;) {
    const jobs = await engine.ask({ jobs: 10, whitelist: { 'gear-name': [gearName] } });
    if (!jobs.length) return done;
    for (const j of jobs) {
      const [success, code] = verdict(j);
      await engine.prepare(j.id, success, { exit_code: code });
      ok(await engine.complete(j.id, success, { exit_code: code }));
      done.push(j.id);
    }
  }
}

describe('proposals', () => {
  it('sorts every acquisition under the targets into matched, ambiguous, not_matched and improper_permissions', async () => {
    const g = await niftiGear();
    const p = ok(
      await alice.post('/batch', {
        gear_id: g.id,
        targets: [
          { type: 'project', id: A.project },
          { type: 'project', id: B.project },
        ],
        config: { level: 2 },
      }),
    );
    expect(p).toMatchObject({
      _id: expect.stringMatching(/^[0-9a-f]{24}$/),
      gear_id: g.id,
      state: 'pending',
      config: { level: 2 },
      origin: { type: 'user', id: 'alice@batch.org' },
    });
    expect(ids(p.matched)).toEqual([A.a1, A.a5].sort());
    expect(ids(p.ambiguous)).toEqual([A.a2]);
    expect(ids(p.not_matched)).toEqual([A.a0, A.a3, A.a4].sort());
    expect(p.improper_permissions.sort()).toEqual([B.b0, B.b1].sort());
    const a1 = p.matched.find((c: any) => c._id === A.a1);
    expect(a1).toMatchObject({
      label: 'a1',
      container_type: 'acquisition',
      files: expect.arrayContaining([expect.objectContaining({ name: 't1.nii.gz' })]),
    });
    expect(p.proposal.inputs).toEqual(
      expect.arrayContaining([
        { image: { type: 'acquisition', id: A.a1, name: 't1.nii.gz' } },
        { image: { type: 'acquisition', id: A.a5, name: 't1.nii.gz' } },
      ]),
    );
    // Narrower targets: a session holds only its own acquisitions.
    const s2 = ok(await alice.post('/batch', { gear_id: g.id, targets: [{ type: 'session', id: A.session2 }] }));
    expect(ids(s2.matched)).toEqual([A.a5]);
    expect(s2.not_matched).toEqual([]);
  });

  it('refuses what it cannot propose, naming the field', async () => {
    const g = await niftiGear();
    const cases: [unknown, number, RegExp][] = [
      [
        {
          gear_id: g.id,
          targets: [
            { type: 'project', id: A.project },
            { type: 'session', id: A.session1 },
          ],
        },
        400,
        /targets: all targets must be of one container type/,
      ],
      [{ gear_id: g.id, targets: [{ type: 'group', id: 'x' }] }, 400, /targets\[0\]\.type: 'group' is not/],
      [{ gear_id: g.id, targets: [{ type: 'project', id: 'a'.repeat(24) }] }, 400, /targets\[0\]: project a+ not found/],
      [{ gear_id: g.id, targets: [] }, 400, /targets: at least one/],
      [{ gear_id: g.id, targets: [{ type: 'project', id: A.project }], config: { level: 'high' } }, 400, /config.*level/],
      [{ gear_id: 'b'.repeat(24), targets: [{ type: 'project', id: A.project }] }, 400, /gear_id: gear b+ not found/],
    ];
    for (const [body, status, why] of cases) {
      const r = await alice.post('/batch', body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.body.message).toMatch(why);
    }
    // Containers bob cannot see are not there for him.
    expect((await bob.post('/batch', { gear_id: g.id, targets: [{ type: 'project', id: A.project }] })).status).toBe(400);
  });

  it('optional inputs follow optional_input_policy', async () => {
    const g = await niftiGear({
      inputs: { image: { base: 'file', type: { enum: ['nifti'] } }, mask: { base: 'file', optional: true, name: { pattern: '^mask' } } },
    });
    const target = [
      { type: 'session', id: A.session1 },
      { type: 'session', id: A.session2 },
    ];
    const ignored = ok(await alice.post('/batch', { gear_id: g.id, targets: target }));
    expect(ids(ignored.matched)).toEqual([A.a1, A.a5].sort());
    expect(ignored.proposal.inputs.every((i: any) => !('mask' in i))).toBe(true);
    const flexible = ok(await alice.post('/batch', { gear_id: g.id, targets: target, optional_input_policy: 'flexible' }));
    expect(ids(flexible.matched)).toEqual([A.a1, A.a5].sort());
    expect(flexible.proposal.inputs.find((i: any) => i.image.id === A.a5).mask).toEqual({
      type: 'acquisition',
      id: A.a5,
      name: 'mask.txt',
    });
    const required = ok(await alice.post('/batch', { gear_id: g.id, targets: target, optional_input_policy: 'required' }));
    expect(ids(required.matched)).toEqual([A.a5]);
    // Without a mask a2's ambiguity no longer matters: it lacks an input.
    expect(ids(required.not_matched)).toEqual([A.a0, A.a1, A.a2, A.a3, A.a4].sort());
  });
});

describe('running', () => {
  it('queues one job per matched container, tagged batch; state follows the jobs', async () => {
    const g = await niftiGear();
    const p = ok(
      await alice.post('/batch', {
        gear_id: g.id,
        targets: [{ type: 'project', id: A.project }],
        config: { level: 3 },
        tags: ['study'],
        priority: 'low',
      }),
    );
    const jobs = ok(await alice.post(`/batch/${p._id}/run`));
    expect(jobs).toHaveLength(2);
    for (const j of jobs) {
      expect(j).toMatchObject({
        state: 'pending',
        batch: p._id,
        priority: 'low',
        gear_id: g.id,
        origin: { type: 'user', id: 'alice@batch.org' },
        config: { config: { level: 3 } },
      });
      expect(j.tags.sort()).toEqual(['batch', g.name, 'study'].sort());
    }
    expect(jobs.map((j: any) => j.destination.id).sort()).toEqual([A.a1, A.a5].sort());
    expect((await alice.post(`/batch/${p._id}/run`)).status).toBe(409);

    let b = ok(await alice.get(`/batch/${p._id}`));
    expect(b).toMatchObject({ _id: p._id, state: 'running', gear_id: g.id, config: { level: 3 } });
    expect(b.jobs.sort()).toEqual(jobs.map((j: any) => j.id).sort());
    const inflated = ok(await alice.get(`/batch/${p._id}?jobs=true`));
    expect(inflated.jobs.map((j: any) => j.state)).toEqual(['pending', 'pending']);

    // One fails, one completes: the batch is complete.
    await finishAll(g.name, (j) => (j.destination.id === A.a1 ? [false, 2] : [true, 0]));
    b = ok(await alice.get(`/batch/${p._id}`));
    expect(b.state).toBe('complete');
    expect(b.job_states).toEqual({ complete: 1, failed: 1 });

    // Every job failed: failed.
    const p2 = ok(await alice.post('/batch', { gear_id: g.id, targets: [{ type: 'project', id: A.project }] }));
    ok(await alice.post(`/batch/${p2._id}/run`));
    await finishAll(g.name, () => [false, 1]);
    expect(ok(await alice.get(`/batch/${p2._id}`)).state).toBe('failed');

    // Batches are their launcher's: listed for them, invisible to others, all visible to admins.
    const mine = ok(await alice.get('/batch')).map((x: any) => x._id);
    expect(mine).toEqual(expect.arrayContaining([p._id, p2._id]));
    expect(ok(await bob.get('/batch'))).toEqual([]);
    expect((await bob.get(`/batch/${p._id}`)).status).toBe(404);
    expect((await bob.post(`/batch/${p._id}/cancel`)).status).toBe(404);
    expect(ok(await s.admin.get('/batch')).map((x: any) => x._id)).toEqual(expect.arrayContaining([p._id, p2._id]));
  });

  it('cancel stops the queued jobs and the batch', async () => {
    const g = await niftiGear();
    const p = ok(await alice.post('/batch', { gear_id: g.id, targets: [{ type: 'project', id: A.project }] }));
    const jobs = ok(await alice.post(`/batch/${p._id}/run`));
    // One is already running on an engine: it is left to finish.
    const [claimed] = await engine.ask({ whitelist: { 'gear-name': [g.name] } });
    expect(ok(await alice.post(`/batch/${p._id}/cancel`))).toEqual({ number_cancelled: 1 });
    const b = ok(await alice.get(`/batch/${p._id}?jobs=true`));
    expect(b.state).toBe('cancelled');
    const states = Object.fromEntries(b.jobs.map((j: any) => [j.id, j.state]));
    expect(states[claimed.id]).toBe('running');
    expect(Object.values(states).sort()).toEqual(['cancelled', 'running']);
    expect(jobs.map((j: any) => j.id).sort()).toEqual(Object.keys(states).sort());
    expect((await alice.post(`/batch/${p._id}/cancel`)).status).toBe(409);
    expect((await alice.post(`/batch/${p._id}/run`)).status).toBe(409);
    ok(await engine.finish(claimed, true));
  });

  it('gears without file inputs run once per session', async () => {
    const g = await addGear(s.admin, manifest({ inputs: { key: { base: 'api-key', 'read-only': true } } }));
    const p = ok(await alice.post('/batch', { gear_id: g, targets: [{ type: 'project', id: A.project }] }));
    expect(ids(p.matched)).toEqual([A.session1, A.session2].sort());
    expect(p.proposal.destinations).toEqual(expect.arrayContaining([{ type: 'session', id: A.session1 }]));
    const jobs = ok(await alice.post(`/batch/${p._id}/run`));
    expect(jobs.map((j: any) => `${j.destination.type}:${j.destination.id}`).sort()).toEqual(
      [`session:${A.session1}`, `session:${A.session2}`].sort(),
    );
    // An acquisition target resolves to its session.
    const one = ok(await alice.post('/batch', { gear_id: g, targets: [{ type: 'acquisition', id: A.a5 }] }));
    expect(ids(one.matched)).toEqual([A.session2]);
  });

  it('analysis gears get one analysis per matched container, each with its batch job', async () => {
    const m = manifest({
      inputs: { image: { base: 'file', type: { enum: ['nifti'] } } },
      custom: { 'gear-builder': { category: 'analysis' } },
    });
    const g = await addGear(s.admin, m);
    const p = ok(
      await alice.post('/batch', { gear_id: g, targets: [{ type: 'project', id: A.project }], analysis: { label: 'batch QA' } }),
    );
    const jobs = ok(await alice.post(`/batch/${p._id}/run`));
    expect(jobs).toHaveLength(2);
    for (const j of jobs) {
      expect(j.batch).toBe(p._id);
      expect(j.destination.type).toBe('analysis');
      expect(j.tags).toEqual(expect.arrayContaining(['batch', 'analysis']));
      const a = ok(await alice.get(`/analyses/${j.destination.id}`));
      expect(a).toMatchObject({ label: 'batch QA', parent: { type: 'acquisition' } });
      expect([A.a1, A.a5]).toContain(a.parent.id);
    }
    expect(ok(await alice.get(`/batch/${p._id}`)).jobs.sort()).toEqual(jobs.map((j: any) => j.id).sort());
  });
});

describe('retry-failed', () => {
  it('re-queues the failed jobs, optionally by exit code and with more memory; the batch follows the retries', async () => {
    const g = await niftiGear({ custom: { sprocket: { resources: { memory: '2G', cpu: 1 } } } });
    const p = ok(
      await alice.post('/batch', {
        gear_id: g.id,
        targets: [
          { type: 'project', id: B.project },
          { type: 'project', id: A.project },
        ],
      }),
    );
    // b1 is read-only for alice: it is reported, not run.
    const jobs = ok(await alice.post(`/batch/${p._id}/run`));
    expect(jobs).toHaveLength(2);
    const unrun = ok(await alice.post('/batch', { gear_id: g.id, targets: [{ type: 'session', id: A.session1 }] }));
    // a1 is killed for memory (137), a5 exits 1.
    await finishAll(g.name, (j) => (j.destination.id === A.a1 ? [false, 137] : [false, 1]));
    expect(ok(await alice.get(`/batch/${p._id}`)).state).toBe('failed');

    expect((await alice.post(`/batch/${p._id}/retry-failed`, { memory: 'lots' })).status).toBe(400);
    expect((await alice.post(`/batch/${unrun._id}/retry-failed`, {})).status).toBe(409);
    const r = ok(await alice.post(`/batch/${p._id}/retry-failed`, { exit_codes: [137], memory: '8G' }));
    expect(r.number_retried).toBe(1);
    const retry = ok(await alice.get(`/jobs/${r.jobs[0]}`));
    const killed = jobs.find((j: any) => j.destination.id === A.a1);
    expect(retry).toMatchObject({
      state: 'pending',
      attempt: 2,
      previous_job_id: killed.id,
      batch: p._id,
      resources: { memory: '8G', cpu: 1 },
    });
    expect(r.retried_from).toEqual([killed.id]);
    let b = ok(await alice.get(`/batch/${p._id}`));
    expect(b.state).toBe('running');
    expect(b.jobs.sort()).toEqual([retry.id, jobs.find((j: any) => j.destination.id === A.a5).id].sort());

    // Without a filter the rest is retried; what already has a retry is not retried again.
    const rest = ok(await alice.post(`/batch/${p._id}/retry-failed`, {}));
    expect(rest.number_retried).toBe(1);
    expect(ok(await alice.get(`/jobs/${rest.jobs[0]}`)).resources).toEqual({ memory: '2G', cpu: 1 });
    expect(ok(await alice.post(`/batch/${p._id}/retry-failed`, {})).number_retried).toBe(0);
    await finishAll(g.name, () => [true, 0]);
    b = ok(await alice.get(`/batch/${p._id}?jobs=true`));
    expect(b.state).toBe('complete');
    expect(b.jobs.map((j: any) => j.attempt)).toEqual([2, 2]);
  });
});
