import { canTransition, JOB_STATES } from '@sprocket/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireJob, transitionJob } from '../src/jobs/queue.js';
import { addGear, EngineSim, engineKeyOf, manifest } from './gear-kit.js';
import { type Api, makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

let s: TestServer;
let engine: EngineSim;
let h: Awaited<ReturnType<typeof makeHierarchy>>;
let gearId: string;
let gearName: string;
let alice: Api; // rw on the group: launches jobs
let bob: Api; // ro on the group
let eve: Api; // no access

const GEAR = () =>
  manifest({
    inputs: {
      scan: { base: 'file', type: { enum: ['nifti'] } },
      notes: { base: 'file', optional: true, name: { pattern: '\\.txt$' }, size: { maximum: 100 } },
      license: { base: 'context' },
    },
    config: {
      level: { type: 'integer', minimum: 1, maximum: 5, default: 2 },
      mode: { type: 'string', enum: ['fast', 'slow'], default: 'fast' },
      label: { type: 'string', optional: true },
      needed: { type: 'number', description: 'no default, not optional' },
    },
  });

beforeAll(async () => {
  s = await startTestServer();
  engine = new EngineSim(s.as(engineKeyOf(s)));
  h = await makeHierarchy(s.admin);
  alice = await makeUser(s, 'alice@lab.org');
  bob = await makeUser(s, 'bob@lab.org');
  eve = await makeUser(s, 'eve@lab.org');
  ok(await s.admin.post(`/groups/${h.group}/permissions`, { _id: 'alice@lab.org', access: 'rw' }));
  ok(await s.admin.post(`/groups/${h.group}/permissions`, { _id: 'bob@lab.org', access: 'ro' }));
  ok(
    await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [
      { name: 'brain.nii.gz', content: 'NIFTI-bytes' },
      { name: 'notes.txt', content: 'short notes' },
      { name: 'long.txt', content: 'x'.repeat(500) },
      { name: 'readme.md', content: '# readme' },
    ]),
  );
  const m = GEAR();
  gearName = m.name;
  gearId = await addGear(s.admin, m);
  ok(await s.admin.post(`/projects/${h.project}/info`, { set: { context: { license: 'LIC-123' } } }));
});
afterAll(async () => {
  await s?.stop();
});

const scan = () => ({ type: 'acquisition', id: h.acquisition, name: 'brain.nii.gz' });

describe('POST /jobs/add', () => {
  it('queues a job with the document Flywheel clients read', async () => {
    const r = ok(await alice.post('/jobs/add', { gear_id: gearId, inputs: { scan: scan() }, config: { needed: 1.5 }, tags: ['mine'] }));
    expect(r._id).toMatch(/^[0-9a-f]{24}$/);
    const job = ok(await alice.get(`/jobs/${r._id}`));
    expect(job).toMatchObject({
      id: r._id,
      _id: r._id,
      gear_id: gearId,
      gear_info: { id: gearId, category: 'converter', name: gearName, version: '1.0.0', capabilities: [] },
      state: 'pending',
      priority: 'medium',
      attempt: 1,
      previous_job_id: null,
      origin: { type: 'user', id: 'alice@lab.org' },
      inputs: { scan: { ...scan(), version: 1 } },
      destination: { type: 'acquisition', id: h.acquisition },
      tags: ['mine', gearName],
      saved_files: [],
      produced_metadata: null,
      failure_reason: null,
      transitions: {},
      profile: { total_input_files: 1, total_input_size_bytes: 'NIFTI-bytes'.length },
      parents: { group: h.group, project: h.project, subject: h.subject, session: h.session, acquisition: h.acquisition },
    });
    expect(job.related_container_ids.sort()).toEqual([h.project, h.subject, h.session, h.acquisition].sort());
    expect(job.config.config).toEqual({ level: 2, mode: 'fast', needed: 1.5 });
    expect(job.created).toBe(job.modified);
  });

  it('hands the gear config.json in the exact shape of gear spec §1.8', async () => {
    const { _id } = ok(
      await alice.post('/jobs/add', {
        gear_id: gearId,
        inputs: { scan: scan(), notes: { type: 'acquisition', id: h.acquisition, name: 'notes.txt' } },
        config: { needed: 3, level: 4 },
      }),
    );
    const config = ok(await alice.get(`/jobs/${_id}/config.json`));
    const brain = ok(await alice.get(`/acquisitions/${h.acquisition}/files/brain.nii.gz/info`));
    const notes = ok(await alice.get(`/acquisitions/${h.acquisition}/files/notes.txt/info`));
    const object = (f: any) => ({
      info: f.info,
      tags: f.tags,
      measurements: [],
      classification: f.classification,
      mimetype: f.mimetype,
      type: f.type,
      modality: f.modality,
      size: f.size,
    });
    expect(config).toEqual({
      config: { level: 4, mode: 'fast', needed: 3 },
      inputs: {
        scan: {
          base: 'file',
          hierarchy: { type: 'acquisition', id: h.acquisition },
          location: { name: 'brain.nii.gz', path: '/flywheel/v0/input/scan/brain.nii.gz' },
          object: object(brain),
        },
        notes: {
          base: 'file',
          hierarchy: { type: 'acquisition', id: h.acquisition },
          location: { name: 'notes.txt', path: '/flywheel/v0/input/notes/notes.txt' },
          object: object(notes),
        },
        license: { base: 'context', found: true, value: 'LIC-123' },
      },
      destination: { type: 'acquisition', id: h.acquisition },
    });
    expect(config.inputs.scan.object.type).toBe('nifti');
  });

  it('resolves context inputs from the nearest container, found:false when none has it', async () => {
    ok(await s.admin.post(`/sessions/${h.session}/info`, { set: { context: { license: 'SESSION-LIC' } } }));
    const { _id } = ok(await alice.post('/jobs/add', { gear_id: gearId, inputs: { scan: scan() }, config: { needed: 0 } }));
    expect(ok(await alice.get(`/jobs/${_id}/config.json`)).inputs.license).toEqual({ base: 'context', found: true, value: 'SESSION-LIC' });
    ok(await s.admin.post(`/sessions/${h.session}/info`, { delete: ['context'] }));

    const other = await makeHierarchy(s.admin);
    ok(await s.admin.upload(`/acquisitions/${other.acquisition}/files`, [{ name: 'b.nii.gz', content: 'x' }]));
    const j = ok(
      await s.admin.post('/jobs/add', {
        gear_id: gearId,
        inputs: { scan: { type: 'acquisition', id: other.acquisition, name: 'b.nii.gz' } },
        config: { needed: 0 },
      }),
    );
    expect(ok(await s.admin.get(`/jobs/${j._id}/config.json`)).inputs.license).toEqual({ base: 'context', found: false });
  });

  const bad: [string, () => Record<string, unknown>, number, RegExp][] = [
    [
      'unknown input',
      () => ({ inputs: { scan: scan(), bogus: scan() }, config: { needed: 1 } }),
      400,
      /inputs\.bogus: gear .* has no input named 'bogus'/,
    ],
    [
      'missing required input',
      () => ({ inputs: {}, config: { needed: 1 }, destination: { type: 'acquisition', id: h.acquisition } }),
      400,
      /inputs\.scan: required input missing/,
    ],
    [
      'file not found',
      () => ({ inputs: { scan: { ...scan(), name: 'nope.nii.gz' } }, config: { needed: 1 } }),
      400,
      /inputs\.scan: file 'nope\.nii\.gz' not found/,
    ],
    [
      'container not found',
      () => ({ inputs: { scan: { ...scan(), id: 'f'.repeat(24) } }, config: { needed: 1 } }),
      400,
      /inputs\.scan: acquisition f{24} not found/,
    ],
    [
      'not a container type',
      () => ({ inputs: { scan: { ...scan(), type: 'folder' } }, config: { needed: 1 } }),
      400,
      /inputs\.scan: 'folder' is not a container type/,
    ],
    [
      'file of the wrong type',
      () => ({ inputs: { scan: { ...scan(), name: 'readme.md' } }, config: { needed: 1 } }),
      400,
      /inputs\.scan: file 'readme\.md' does not match the input: type: must be one of "nifti" \(enum\)/,
    ],
    [
      'file breaking a name pattern',
      () => ({ inputs: { scan: scan(), notes: { ...scan(), name: 'readme.md' } }, config: { needed: 1 } }),
      400,
      /inputs\.notes: file 'readme\.md' does not match the input: name: must match the pattern \\\.txt\$ \(pattern\)/,
    ],
    [
      'file over a size limit',
      () => ({ inputs: { scan: scan(), notes: { ...scan(), name: 'long.txt' } }, config: { needed: 1 } }),
      400,
      /inputs\.notes: file 'long\.txt' does not match the input: size: must be <= 100 \(maximum\)/,
    ],
    [
      'context input passed',
      () => ({ inputs: { scan: scan(), license: { base: 'context' } }, config: { needed: 1 } }),
      400,
      /inputs\.license: context inputs are resolved/,
    ],
    [
      'config of the wrong type',
      () => ({ inputs: { scan: scan() }, config: { needed: 1, level: 'three' } }),
      400,
      /config\.level: must be of type integer/,
    ],
    ['config above its maximum', () => ({ inputs: { scan: scan() }, config: { needed: 1, level: 9 } }), 400, /config\.level: must be <= 5/],
    [
      'config outside its enum',
      () => ({ inputs: { scan: scan() }, config: { needed: 1, mode: 'medium' } }),
      400,
      /config\.mode: must be one of "fast", "slow"/,
    ],
    [
      'unknown config key',
      () => ({ inputs: { scan: scan() }, config: { needed: 1, colour: 'red' } }),
      400,
      /config\.colour: not a config option/,
    ],
    ['required config missing', () => ({ inputs: { scan: scan() } }), 400, /config\.needed: is required/],
    ['no inputs and no destination', () => ({ inputs: {}, config: { needed: 1 } }), 400, /inputs\.scan: required input missing/],
    [
      'analysis destination',
      () => ({ inputs: { scan: scan() }, config: { needed: 1 }, destination: { type: 'analysis', id: 'a'.repeat(24) } }),
      400,
      /destination: jobs write into an analysis only/,
    ],
    [
      'bad resources',
      () => ({ inputs: { scan: scan() }, config: { needed: 1 }, resources: { cpu: -1 } }),
      400,
      /resources\.cpu: must be a number of cores/,
    ],
    [
      'unknown resource',
      () => ({ inputs: { scan: scan() }, config: { needed: 1 }, resources: { disk: '1G' } }),
      400,
      /resources\.disk: unknown resource/,
    ],
    ['bad priority', () => ({ inputs: { scan: scan() }, config: { needed: 1 }, priority: 'urgent' }), 400, /priority/],
  ];
  it.each(bad)('refuses %s', async (_name, body, status, message) => {
    const r = await alice.post('/jobs/add', { gear_id: gearId, ...body() });
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect(r.body.message).toMatch(message);
  });

  it('refuses unknown and disabled gears, api-key inputs, and a default that breaks its own type', async () => {
    const unknown = await alice.post('/jobs/add', { gear_id: 'e'.repeat(24), inputs: {} });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toMatch(/gear_id: gear e{24} not found/);
    const disabled = await addGear(s.admin, manifest({ custom: { flywheel: { invalid: true } } }));
    expect(
      (await alice.post('/jobs/add', { gear_id: disabled, destination: { type: 'acquisition', id: h.acquisition } })).body.message,
    ).toMatch(/disabled/);
    const keyed = await addGear(s.admin, manifest({ inputs: { key: { base: 'api-key' } } }));
    const k = await alice.post('/jobs/add', {
      gear_id: keyed,
      inputs: { key: { type: 'acquisition', id: h.acquisition, name: 'x' } },
      destination: { type: 'acquisition', id: h.acquisition },
    });
    expect(k.status).toBe(400);
    expect(k.body.message).toMatch(/inputs\.key: api-key inputs are minted by the server/);
    const badDefault = await addGear(s.admin, manifest({ config: { port: { type: 'number', default: '104' } } }));
    const d = await alice.post('/jobs/add', { gear_id: badDefault, destination: { type: 'acquisition', id: h.acquisition } });
    expect(d.status).toBe(400);
    expect(d.body.message).toMatch(/config\.port: must be of type number.*manifest's default "104" is invalid/);
    expect(
      ok(
        await alice.post('/jobs/add', {
          gear_id: badDefault,
          destination: { type: 'acquisition', id: h.acquisition },
          config: { port: 104 },
        }),
      )._id,
    ).toBeTruthy();
    // Flywheel's SDK sends null for keys without a default.
    expect((await alice.post('/jobs/add', { gear_id: gearId, inputs: { scan: scan() }, config: { needed: 1, label: null } })).status).toBe(
      200,
    );
  });

  it('checks permissions: read on inputs, jobs_run_cancel and write on the destination', async () => {
    const ro = await bob.post('/jobs/add', { gear_id: gearId, inputs: { scan: scan() }, config: { needed: 1 } });
    expect(ro.status).toBe(403);
    expect(ro.body.message).toMatch(/destination: permission denied: jobs_run_cancel/);
    const none = await eve.post('/jobs/add', { gear_id: gearId, inputs: { scan: scan() }, config: { needed: 1 } });
    expect(none.status).toBe(400);
    expect(none.body.message).toMatch(/inputs\.scan: acquisition .* not found/);
    // bob may read the input but must write elsewhere: into a project he does not have rw on, refused.
    const mine = await makeHierarchy(s.admin);
    ok(await s.admin.post(`/groups/${mine.group}/permissions`, { _id: 'bob@lab.org', access: 'rw' }));
    const elsewhere = await bob.post('/jobs/add', {
      gear_id: gearId,
      inputs: { scan: scan() },
      config: { needed: 1 },
      destination: { type: 'session', id: mine.session },
    });
    expect(elsewhere.status).toBe(200);
    const job = ok(await bob.get(`/jobs/${elsewhere.body._id}`));
    expect(job.destination).toEqual({ type: 'session', id: mine.session });
    expect(job.related_container_ids).toEqual(expect.arrayContaining([mine.session, h.acquisition]));
  });
});

describe('job lists', () => {
  it('lists all jobs for site admins, with filters and paging', async () => {
    // Non-admins list what they may see (jobs-visibility.test.ts); admins everything.
    expect((await alice.get('/jobs')).status).toBe(200);
    const all = ok(await s.admin.get('/jobs?filter=state=pending'));
    expect(all.length).toBeGreaterThan(3);
    expect(all.every((j: any) => j.state === 'pending')).toBe(true);
    const byGear = ok(await s.admin.get(`/jobs?filter=gear_info.name=${gearName}`));
    expect(byGear.every((j: any) => j.gear_info.name === gearName)).toBe(true);
    const page = await s.admin.get(`/jobs?filter=gear_info.name=${gearName}&limit=2`, { 'X-Accept-Feature': 'pagination' });
    expect(page.body.results).toHaveLength(2);
    expect(page.body.total).toBe(byGear.length);
    const sdkStyle = ok(await s.admin.get(`/jobs?states=pending,running&tags=${gearName}`));
    expect(sdkStyle).toHaveLength(byGear.length);
    expect((await s.admin.get('/jobs?states=sleeping')).status).toBe(400);
  });

  it('lists the jobs touching a container, and your own with stats', async () => {
    const sess = ok(await alice.get(`/sessions/${h.session}/jobs`));
    expect(sess.jobs.length).toBeGreaterThan(0);
    expect(sess.jobs.every((j: any) => j.related_container_ids.includes(h.session))).toBe(true);
    expect(sess.containers[h.acquisition]).toMatchObject({ _id: h.acquisition, label: 'T1w' });
    const proj = ok(await alice.get(`/projects/${h.project}/jobs?states=pending`));
    expect(proj.jobs.length).toBeGreaterThanOrEqual(sess.jobs.length);
    expect((await eve.get(`/projects/${h.project}/jobs`)).status).toBe(404);
    const mine = ok(await alice.get('/users/self/jobs'));
    expect(mine.total).toBe(mine.jobs.length);
    expect(mine.stats.pending).toBe(mine.total);
    expect(mine.jobs.every((j: any) => j.origin.id === 'alice@lab.org')).toBe(true);
    expect(ok(await alice.get(`/users/self/jobs?gear=${gearName}`)).total).toBe(
      mine.jobs.filter((j: any) => j.gear_info.name === gearName).length,
    );
  });

  it('keeps jobs invisible to users without access', async () => {
    const { _id } = ok(await alice.post('/jobs/add', { gear_id: gearId, inputs: { scan: scan() }, config: { needed: 1 } }));
    expect((await eve.get(`/jobs/${_id}`)).status).toBe(404);
    expect((await bob.get(`/jobs/${_id}`)).status).toBe(200);
    expect((await eve.get(`/jobs/${_id}/logs`)).status).toBe(404);
  });
});

describe('job state changes', () => {
  it('cancels own jobs; refuses what the state table forbids', async () => {
    const { _id } = ok(await alice.post('/jobs/add', { gear_id: gearId, inputs: { scan: scan() }, config: { needed: 1 } }));
    expect((await alice.put(`/jobs/${_id}`, { state: 'complete' })).status).toBe(400);
    expect((await alice.put(`/jobs/${_id}`, { state: 'running' })).status).toBe(400);
    expect((await bob.put(`/jobs/${_id}`, { state: 'cancelled' })).status).toBe(403);
    // Above medium needs a project or site admin (security-keys.test.ts); alice has rw.
    expect((await alice.put(`/jobs/${_id}`, { priority: 'low' })).status).toBe(200);
    expect(ok(await alice.get(`/jobs/${_id}`)).priority).toBe('low');
    expect((await alice.put(`/jobs/${_id}`, { state: 'cancelled' })).status).toBe(200);
    const job = ok(await alice.get(`/jobs/${_id}`));
    expect(job.state).toBe('cancelled');
    expect(job.transitions.cancelled).toBeTruthy();
    expect(job.profile.total_time_ms).toBeGreaterThanOrEqual(0);
    const again = await s.admin.put(`/jobs/${_id}`, { priority: 'medium' });
    expect(again.status).toBe(409);
    const logs = ok(await alice.get(`/jobs/${_id}/logs`));
    expect(logs).toEqual({ id: _id, logs: [{ fd: -1, msg: 'Job cancelled by alice@lab.org.\n' }] });
    expect((await alice.get(`/jobs/${_id}/logs/text`)).body).toBe('[sprocket] Job cancelled by alice@lab.org.\n');
    // A cancelled job is never claimed.
    const claimed = await engine.ask({ jobs: 100, whitelist: { 'gear-name': [gearName] } });
    expect(claimed.map((j) => j.id)).not.toContain(_id);
    for (const j of claimed) ok(await engine.complete(j.id, true));
    const { _id: other } = ok(await alice.post('/jobs/add', { gear_id: gearId, inputs: { scan: scan() }, config: { needed: 1 } }));
    expect((await engine.ask({ whitelist: { 'gear-name': [gearName] } })).map((j) => j.id)).toEqual([other]);
    ok(await engine.complete(other, true));
    expect((await s.admin.put(`/jobs/${other}`, { state: 'cancelled' })).status).toBe(409);
  });

  it('retries failed jobs once (ignoreState for complete and cancelled ones)', async () => {
    const { _id } = ok(
      await alice.post('/jobs/add', { gear_id: gearId, inputs: { scan: scan() }, config: { needed: 1 }, priority: 'low' }),
    );
    expect((await alice.post(`/jobs/${_id}/retry`)).status).toBe(409);
    const [job] = await engine.ask({ whitelist: { 'gear-name': [gearName] } });
    expect(job.id).toBe(_id);
    ok(await engine.complete(_id, false, { failure_reason: 'bad luck', exit_code: 3 }));
    expect(ok(await alice.get(`/jobs/${_id}`))).toMatchObject({ state: 'failed', failure_reason: 'bad luck', exit_code: 3 });
    expect((await bob.post(`/jobs/${_id}/retry`)).status).toBe(403);
    const r = ok(await alice.post(`/jobs/${_id}/retry`));
    const retry = ok(await alice.get(`/jobs/${r._id}`));
    expect(retry).toMatchObject({
      state: 'pending',
      attempt: 2,
      previous_job_id: _id,
      gear_id: gearId,
      inputs: { scan: scan() },
      priority: 'low',
      saved_files: [],
    });
    expect(retry.config).toEqual(ok(await alice.get(`/jobs/${_id}`)).config);
    expect(ok(await alice.get(`/jobs/${_id}`)).retried).toBeTruthy();
    expect((await alice.post(`/jobs/${_id}/retry`)).status).toBe(409);
    ok(await alice.put(`/jobs/${r._id}`, { state: 'cancelled' }));
    expect((await alice.post(`/jobs/${r._id}/retry`)).status).toBe(409);
    expect(ok(await alice.post(`/jobs/${r._id}/retry?ignoreState=true`))._id).toMatch(/^[0-9a-f]{24}$/);
  });
});

describe('the state table', () => {
  it('allows exactly the transitions of packages/types/src/jobs.ts, as compare-and-set', async () => {
    const { _id } = ok(await alice.post('/jobs/add', { gear_id: gearId, inputs: { scan: scan() }, config: { needed: 1 } }));
    const base = await requireJob(s.ctx, _id);
    for (const from of JOB_STATES) {
      for (const to of JOB_STATES) {
        if (from === to) continue;
        await s.ctx.handle.db.updateTable('jobs').set({ state: from }).where('id', '=', _id).execute();
        const job = { ...base, state: from };
        const outcome = await transitionJob(s.ctx, job, to).then(
          (j) => j.state,
          (e) => e.status,
        );
        expect(outcome, `${from} → ${to}`).toBe(canTransition(from, to) ? to : 409);
      }
    }
    // A stale view of the job loses the race: the row moved on, so nothing is written.
    await s.ctx.handle.db.updateTable('jobs').set({ state: 'complete' }).where('id', '=', _id).execute();
    await expect(transitionJob(s.ctx, { ...base, state: 'running' }, 'failed')).rejects.toMatchObject({ status: 409 });
    expect((await requireJob(s.ctx, _id)).state).toBe('complete');
  });
});

describe('analyses run by gears', () => {
  it('creates the analysis, queues its job into it, and removes it when the job is refused', async () => {
    const gear = await addGear(
      s.admin,
      manifest({
        custom: { 'gear-builder': { category: 'analysis' } },
        inputs: { scan: { base: 'file' } },
        config: { n: { type: 'integer', default: 1 } },
      }),
    );
    const r = ok(
      await alice.post(`/sessions/${h.session}/analyses`, {
        label: 'my analysis',
        job: { gear_id: gear, inputs: { scan: scan() }, config: { n: 2 }, tags: ['x'] },
      }),
    );
    const analysis = ok(await alice.get(`/sessions/${h.session}/analyses/${r._id}`));
    expect(analysis).toMatchObject({ label: 'my analysis', gear_info: { id: gear, category: 'analysis', version: '1.0.0' } });
    expect(analysis.inputs.map((f: any) => f.name)).toEqual(['brain.nii.gz']);
    const job = ok(await alice.get(`/jobs/${analysis.job}`));
    expect(job).toMatchObject({ destination: { type: 'analysis', id: r._id }, state: 'pending' });
    expect(job.tags).toEqual(expect.arrayContaining(['x', 'analysis', job.gear_info.name]));
    expect(job.config.config).toEqual({ n: 2 });

    const before = ok(await alice.get(`/sessions/${h.session}/analyses`)).length;
    const refused = await alice.post(`/sessions/${h.session}/analyses`, {
      label: 'bad',
      job: { gear_id: gear, inputs: { scan: scan() }, config: { n: 'two' } },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toMatch(/config\.n/);
    expect(ok(await alice.get(`/sessions/${h.session}/analyses`))).toHaveLength(before);
    expect(
      (await bob.post(`/sessions/${h.session}/analyses`, { label: 'ro', job: { gear_id: gear, inputs: { scan: scan() } } })).status,
    ).toBe(403);
  });
});
