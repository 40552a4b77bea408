import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addGear, EngineSim, engineKeyOf, manifest } from './gear-kit.js';
import { type Api, makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

let s: TestServer;
let engine: EngineSim;
let h: Awaited<ReturnType<typeof makeHierarchy>>;
let alice: Api;

beforeAll(async () => {
  s = await startTestServer();
  engine = new EngineSim(s.as(engineKeyOf(s)));
  h = await makeHierarchy(s.admin);
  alice = await makeUser(s, 'alice@lab.org');
  ok(await s.admin.post(`/groups/${h.group}/permissions`, { _id: 'alice@lab.org', access: 'rw' }));
  ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'in.nii.gz', content: 'input image' }]));
});
afterAll(async () => {
  await s?.stop();
});

/** A gear taking one optional file, so jobs can be queued without inputs (destination given). */
async function simpleGear(over: Record<string, unknown> = {}): Promise<{ id: string; name: string }> {
  const m = manifest({ inputs: { image: { base: 'file', optional: true } }, ...over });
  return { id: await addGear(s.admin, m), name: m.name };
}

async function queue(api: Api, gearId: string, extra: Record<string, unknown> = {}): Promise<string> {
  return ok(await api.post('/jobs/add', { gear_id: gearId, destination: { type: 'acquisition', id: h.acquisition }, ...extra }))._id;
}

describe('engine keys', () => {
  it('writes the local engine key at first start, mode 0600', () => {
    const file = path.join(s.dataDir, 'engine-api-key');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(engineKeyOf(s)).toMatch(/^127\.0\.0\.1:\d+:__force_insecure:.+/);
  });

  it('registers devices (site admin) whose keys work only on engine routes', async () => {
    expect((await alice.post('/devices', { name: 'x' })).status).toBe(403);
    const dev = ok(await s.admin.post('/devices', { name: 'gpu-box' }));
    expect(dev).toMatchObject({ _id: expect.stringMatching(/^[0-9a-f]{24}$/), key: expect.any(String) });
    const other = s.as(dev.key);
    expect(ok(await other.post('/jobs/ask', { capabilities: [], return: { jobs: 1 } }))).toEqual({ jobs: [] });
    // Engines cannot use user routes…
    for (const [method, p] of [
      ['GET', `/projects/${h.project}`],
      ['GET', '/users/self'],
      ['POST', '/jobs/add'],
      ['GET', '/jobs'],
      ['POST', `/acquisitions/${h.acquisition}/files`],
    ] as const) {
      const r = await other.request(method, p, method === 'POST' ? {} : undefined);
      expect(r.status, `${method} ${p}`).toBe(403);
    }
    // …nor read files or gear archives of jobs it does not run (security-keys.test.ts).
    expect((await other.bytes(`/acquisitions/${h.acquisition}/files/in.nii.gz`)).status).toBe(403);
    const g = await simpleGear();
    expect((await other.bytes(`/gears/${g.id}/archive`)).status).toBe(403);
    // User keys are refused on engine routes.
    expect((await alice.post('/jobs/ask', {})).status).toBe(403);
    expect((await s.admin.post('/jobs/ask', {})).status).toBe(403);
    const devices = ok(await s.admin.get('/devices'));
    expect(devices.map((d: any) => d.name)).toEqual(expect.arrayContaining(['local engine', 'gpu-box']));
    ok(await s.admin.del(`/devices/${dev._id}`));
    expect((await other.post('/jobs/ask', {})).status).toBe(401);
  });
});

describe('claiming', () => {
  it('never hands a job to two engines: 4 concurrent askers over 200 jobs', async () => {
    const g = await simpleGear();
    const want = new Set<string>();
    for (let i = 0; i < 200; i++) want.add(await queue(s.admin, g.id));
    const engines = await Promise.all(
      [1, 2, 3, 4].map(async (n) => new EngineSim(s.as(ok(await s.admin.post('/devices', { name: `racer-${n}` })).key), `racer-${n}`)),
    );
    const claimed: string[][] = [[], [], [], []];
    await Promise.all(
      engines.map(async (e, i) => {
        for (;;) {
          const jobs = await e.ask({ jobs: 3, whitelist: { 'gear-name': [g.name] } });
          if (!jobs.length) return;
          for (const j of jobs) {
            expect(j.state).toBe('running');
            claimed[i]!.push(j.id);
          }
        }
      }),
    );
    const all = claimed.flat();
    expect(all).toHaveLength(200);
    expect(new Set(all)).toEqual(want);
    // Each racer got some share of the work.
    expect(claimed.filter((c) => c.length > 0).length).toBeGreaterThan(1);
    const running = ok(await s.admin.get(`/jobs?filter=gear_info.name=${g.name},state=running&limit=1000`));
    expect(running).toHaveLength(200);
  });

  it('claims by priority, then age', async () => {
    const g = await simpleGear();
    const low = await queue(s.admin, g.id, { priority: 'low' });
    const med1 = await queue(s.admin, g.id);
    const crit = await queue(s.admin, g.id, { priority: 'critical' });
    const med2 = await queue(s.admin, g.id, { priority: 'medium' });
    const high = await queue(s.admin, g.id, { priority: 'high' });
    const order: string[] = [];
    for (let i = 0; i < 5; i++) order.push(...(await engine.ask({ whitelist: { 'gear-name': [g.name] } })).map((j) => j.id));
    expect(order).toEqual([crit, high, med1, med2, low]);
    const batch = [await queue(s.admin, g.id, { priority: 'low' }), await queue(s.admin, g.id, { priority: 'high' })];
    expect((await engine.ask({ jobs: 5, whitelist: { 'gear-name': [g.name] } })).map((j) => j.id)).toEqual([batch[1], batch[0]]);
  });

  it('matches capabilities, tags and gear names', async () => {
    const net = await simpleGear({ capabilities: ['networking'] });
    const plain = await simpleGear();
    const netJob = await queue(s.admin, net.id);
    const plainJob = await queue(s.admin, plain.id, { tags: ['hpc'] });
    const names = { 'gear-name': [net.name, plain.name] };
    expect((await engine.ask({ jobs: 10, whitelist: names, blacklist: { tag: ['hpc'] } })).map((j) => j.id)).toEqual([]);
    const got = await engine.ask({ jobs: 10, whitelist: names });
    expect(got.map((j) => j.id)).toEqual([plainJob]);
    const withNet = await engine.ask({ jobs: 10, whitelist: names, capabilities: ['networking', 'gpu'] });
    expect(withNet.map((j) => j.id)).toEqual([netJob]);
    expect(withNet[0].request.target.networking).toBe(true);
  });

  it('long-polls: wakes when a job is queued, returns nothing when the wait runs out', async () => {
    const g = await simpleGear();
    const empty = await engine.ask({ wait: 0.3, whitelist: { 'gear-name': [g.name] } });
    expect(empty).toEqual([]);
    const asking = engine.ask({ wait: 30, whitelist: { 'gear-name': [g.name] } });
    await new Promise((r) => setTimeout(r, 200));
    const id = await queue(s.admin, g.id);
    const started = Date.now();
    const jobs = await asking;
    expect(jobs.map((j) => j.id)).toEqual([id]);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('hands each job with the request of the engine protocol', async () => {
    const g = await simpleGear({
      command: 'python3 run.py',
      environment: { LANG: 'C.UTF-8' },
      config: {
        speed: { type: 'integer', default: 3 },
        'Dry-Run': { type: 'boolean', default: false },
        names: { type: 'array', default: ['a', 'b'] },
      },
      custom: {
        'gear-builder': { image: 'sprocket/demo:1' },
        flywheel: { uid: 1000, gid: 1001 },
        sprocket: { resources: { cpu: 2, memory: '4G', walltime: 600 } },
      },
    });
    const id = await queue(alice, g.id, {
      inputs: { image: { type: 'acquisition', id: h.acquisition, name: 'in.nii.gz' } },
      resources: { memory: '8G', gpu: 1 },
    });
    const [job] = await engine.ask({ whitelist: { 'gear-name': [g.name] } });
    expect(job.id).toBe(id);
    expect(job.request).toEqual({
      gear: { id: g.id, archive: `/gears/${g.id}/archive` },
      inputs: [
        {
          input: 'image',
          uri: `/acquisitions/${h.acquisition}/files/in.nii.gz?version=1`,
          location: '/flywheel/v0/input/image/in.nii.gz',
          size: 'input image'.length,
        },
      ],
      target: {
        command: ['bash', '-c', 'python3 run.py'],
        env: {
          PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          LANG: 'C.UTF-8',
          FW_CONFIG_SPEED: '3',
          FW_CONFIG_DRYRUN: 'false',
          FW_CONFIG_NAMES: '["a","b"]',
        },
        dir: '/flywheel/v0',
        networking: false,
        image: 'sprocket/demo:1',
        resources: { cpu: 2, memory: '8G', walltime: 600, gpu: 1 },
        uid: 1000,
        gid: 1001,
      },
      outputs: [{ uri: `/engine?level=acquisition&id=${h.acquisition}&job=${id}` }],
    });
    expect(job.transitions.running).toBeTruthy();
    expect(job.claimed_by).toBe('test-engine/1');
    // Inputs are pinned to the version the job was queued with.
    ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'in.nii.gz', content: 'replaced later' }]));
    expect((await engine.api.bytes(job.request.inputs[0].uri)).data.toString()).toBe('input image');
    ok(await engine.complete(id, true));
  });
});

describe('running and finishing', () => {
  it('takes heartbeats and log lines, and tells the engine of a cancel', async () => {
    const g = await simpleGear();
    const id = await queue(alice, g.id);
    const [job] = await engine.ask({ whitelist: { 'gear-name': [g.name] } });
    expect(
      ok(
        await engine.heartbeat(id, [
          { fd: 1, msg: 'hello\n' },
          { fd: 2, msg: 'oops\n' },
        ]),
      ),
    ).toEqual({ state: 'running' });
    expect(ok(await engine.heartbeat(id))).toEqual({ state: 'running' });
    ok(await alice.put(`/jobs/${id}`, { state: 'cancelled' }));
    // The heartbeat tells of the cancel; the log takes no more lines once the job has ended.
    expect(ok(await engine.heartbeat(id))).toEqual({ state: 'cancelled' });
    expect((await engine.heartbeat(id, [{ fd: 1, msg: 'bye\n' }])).status).toBe(409);
    const logs = ok(await alice.get(`/jobs/${id}/logs`)).logs;
    expect(logs).toEqual([
      { fd: 1, msg: 'hello\n' },
      { fd: 2, msg: 'oops\n' },
      { fd: -1, msg: 'Job cancelled by alice@lab.org.\n' },
    ]);
    // Nothing more from this job is accepted.
    expect((await engine.api.post(`/jobs/${job.id}/prepare-complete`, { success: true })).status).toBe(409);
    expect((await engine.complete(job.id, true)).status).toBe(409);
    // Another engine cannot write to it either.
    const other = s.as(ok(await s.admin.post('/devices', { name: 'stranger' })).key);
    expect((await other.request('POST', `/jobs/${id}/logs`, [])).status).toBe(409);
  });

  it('stores outputs with the job as origin and applies .metadata.json with the placer semantics', async () => {
    const g = await simpleGear();
    const acq = ok(await s.admin.post('/acquisitions', { session: h.session, label: 'dwi' }))._id;
    ok(await s.admin.post(`/acquisitions/${acq}/info`, { set: { existing: 'kept', nested: { a: 1 } } }));
    ok(await s.admin.upload(`/acquisitions/${acq}/files`, [{ name: 'input.nii.gz', content: 'dwi' }]));
    ok(await s.admin.post(`/acquisitions/${acq}/tags`, { value: 'old' }));
    const id = await queue(alice, g.id, { destination: { type: 'acquisition', id: acq } });
    const [job] = await engine.ask({ whitelist: { 'gear-name': [g.name] } });
    const metadata = {
      acquisition: {
        label: 'renamed?',
        uid: '1.2.840.1',
        info: { existing: 'overwritten?', nested: { a: 2, b: 3 }, added: true },
        tags: ['old', 'new'],
        files: [
          {
            name: 'out.nii.gz',
            type: 'nifti',
            modality: 'MR',
            classification: { Intent: ['Structural'] },
            info: { bids: { Run: 1 } },
            tags: ['t'],
          },
          { name: 'input.nii.gz', classification: { Measurement: ['Diffusion'] }, modality: 'MR' },
          { name: 'ghost.txt', type: 'text' },
        ],
      },
      session: { info: { site: 'A' }, operator: 'op', subject: { sex: 'female', info: { handed: 'left' } } },
      project: { info: { study: 'S' } },
    };
    const ticket = await engine.prepare(id, true);
    const up = await engine.upload(
      job,
      ticket,
      [
        { name: 'out.nii.gz', content: 'result' },
        { name: 'report.txt', content: 'all good' },
      ],
      metadata,
    );
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect(up.body.saved_files.sort()).toEqual(['out.nii.gz', 'report.txt']);
    ok(await engine.complete(id, true, { profile: { elapsed_time_ms: 1234, executor: { name: 'process' } } }));

    const a = ok(await s.admin.get(`/acquisitions/${acq}`));
    const files = Object.fromEntries(a.files.map((f: any) => [f.name, f]));
    expect(files['out.nii.gz']).toMatchObject({
      type: 'nifti',
      modality: 'MR',
      classification: { Intent: ['Structural'] },
      info: { bids: { Run: 1 } },
      tags: ['t'],
      origin: { type: 'job', id },
    });
    expect(files['report.txt']).toMatchObject({ type: 'text', origin: { type: 'job', id } });
    expect(files['report.txt'].from_failed_job).toBeUndefined();
    // An entry naming an existing file edits it in place.
    expect(files['input.nii.gz']).toMatchObject({ classification: { Measurement: ['Diffusion'] }, modality: 'MR', version: 1 });
    // Container fields fill only where empty; tags are added.
    expect(a.label).toBe('dwi');
    expect(a.uid).toBe('1.2.840.1');
    expect(a.info).toEqual({ existing: 'kept', nested: { a: 1, b: 3 }, added: true });
    expect(a.tags.sort()).toEqual(['new', 'old']);
    const sess = ok(await s.admin.get(`/sessions/${h.session}`));
    expect(sess.info.site).toBe('A');
    expect(sess.operator).toBe('op');
    const subj = ok(await s.admin.get(`/subjects/${h.subject}`));
    expect(subj.sex).toBe('female');
    expect(subj.info.handed).toBe('left');
    expect(ok(await s.admin.get(`/projects/${h.project}`)).info.study).toBe('S');

    const done = ok(await alice.get(`/jobs/${id}`));
    expect(done).toMatchObject({ state: 'complete', produced_metadata: metadata, failure_reason: null });
    expect(done.saved_files.sort()).toEqual(['out.nii.gz', 'report.txt']);
    expect(done.profile).toMatchObject({
      total_output_files: 2,
      total_output_size_bytes: 'result'.length + 'all good'.length,
      elapsed_time_ms: 1234,
      executor: { name: 'process' },
    });
    expect(done.profile.total_time_ms).toBeGreaterThanOrEqual(0);
    const text = (await alice.get(`/jobs/${id}/logs/text`)).body as string;
    expect(text).toContain("names file 'ghost.txt'");
    expect(text).toContain('The following outputs have been saved: ');
    const detail = ok(await alice.get(`/jobs/${id}/detail`));
    expect(detail.outputs.map((f: any) => f.name).sort()).toEqual(['out.nii.gz', 'report.txt']);
    // A late second completion is refused: nothing completes twice.
    expect((await engine.complete(id, true)).status).toBe(409);
    expect((await engine.complete(id, false)).status).toBe(409);
  });

  it('keeps outputs of failed jobs flagged and applies no container metadata', async () => {
    const g = await simpleGear();
    const acq = ok(await s.admin.post('/acquisitions', { session: h.session, label: 'failing' }))._id;
    const id = await queue(alice, g.id, { destination: { type: 'acquisition', id: acq } });
    const [job] = await engine.ask({ whitelist: { 'gear-name': [g.name] } });
    const ticket = await engine.prepare(id, false, { exit_code: 2 });
    const md = { acquisition: { info: { should: 'not apply' }, files: [{ name: 'partial.txt', type: 'text', info: { partial: true } }] } };
    ok(await engine.upload(job, ticket, [{ name: 'partial.txt', content: 'half' }], md));
    ok(await engine.complete(id, false, { exit_code: 2 }));
    const a = ok(await s.admin.get(`/acquisitions/${acq}`));
    expect(a.info).toEqual({});
    expect(a.files[0]).toMatchObject({ name: 'partial.txt', from_failed_job: true, info: { partial: true }, origin: { type: 'job', id } });
    const failed = ok(await alice.get(`/jobs/${id}`));
    expect(failed).toMatchObject({
      state: 'failed',
      exit_code: 2,
      failure_reason: 'gear exited with code 2',
      produced_metadata: md,
      saved_files: ['partial.txt'],
      failed_output_accepted: false,
    });

    // Accepting the output unflags it and applies the metadata, once.
    expect(ok(await alice.post(`/jobs/${id}/accept-failed-output`))).toEqual({ accepted: 1, notes: [] });
    const accepted = ok(await s.admin.get(`/acquisitions/${acq}`));
    expect(accepted.info).toEqual({ should: 'not apply' });
    expect(accepted.files[0].from_failed_job).toBeUndefined();
    expect(ok(await alice.get(`/jobs/${id}`)).failed_output_accepted).toBe(true);
    expect((await alice.post(`/jobs/${id}/accept-failed-output`)).status).toBe(409);
  });

  it('checks the upload against its job: ticket, destination, state', async () => {
    const g = await simpleGear();
    const id = await queue(alice, g.id);
    const [job] = await engine.ask({ whitelist: { 'gear-name': [g.name] } });
    expect((await engine.upload(job, 'no-ticket-yet', [{ name: 'a.txt', content: 'a' }])).status).toBe(409);
    const ticket = await engine.prepare(id, true);
    expect((await engine.upload(job, 'wrong', [{ name: 'a.txt', content: 'a' }])).status).toBe(400);
    const wrongDest = { ...job, request: { outputs: [{ uri: `/engine?level=session&id=${h.session}&job=${id}` }] } };
    const r = await engine.upload(wrongDest, ticket, [{ name: 'a.txt', content: 'a' }]);
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(/level\/id: the job writes to acquisition/);
    const twice = await engine.upload(job, ticket, [
      { name: 'a.txt', content: 'a' },
      { name: 'a.txt', content: 'b' },
    ]);
    expect(twice.status).toBe(400);
    expect(twice.body.message).toMatch(/'a\.txt' appears twice/);
    // Metadata alone (no files) is a valid upload.
    expect((await engine.upload(job, ticket, [], { acquisition: { info: { only: 'metadata' } } })).status).toBe(200);
    ok(await engine.complete(id, true));
    expect((await engine.upload(job, ticket, [{ name: 'late.txt', content: 'a' }])).status).toBe(409);
  });

  it('ignores a .metadata.json nested past the bound, naming why, and still stores the outputs', async () => {
    const g = await simpleGear();
    const id = await queue(alice, g.id);
    const [job] = await engine.ask({ whitelist: { 'gear-name': [g.name] } });
    const ticket = await engine.prepare(id, true);
    // 10,000 levels: parsing it once overflowed the server's stack (a 500, the outputs lost).
    const form = new FormData();
    form.append('metadata', `{"acquisition":{"info":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`);
    form.append('file', new Blob(['result']), 'deep.txt');
    const res = await fetch(`${engine.api.base}${job.request.outputs[0].uri}&job_ticket=${ticket}`, {
      method: 'POST',
      headers: engine.api.headers(),
      body: form,
    });
    const body = (await res.json()) as { notes: string[] };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.notes.join('\n')).toMatch(/\.metadata\.json: JSON nested deeper than 64 levels.*metadata ignored/);
    ok(await engine.complete(id, true));
    expect(ok(await alice.get(`/jobs/${id}`)).saved_files).toEqual(['deep.txt']);
  });

  it('writes analysis outputs into the analysis', async () => {
    const gear = await addGear(
      s.admin,
      manifest({ custom: { 'gear-builder': { category: 'analysis' } }, inputs: { image: { base: 'file' } } }),
    );
    const { _id: aid } = ok(
      await alice.post(`/sessions/${h.session}/analyses`, {
        label: 'run',
        job: { gear_id: gear, inputs: { image: { type: 'acquisition', id: h.acquisition, name: 'in.nii.gz' } } },
      }),
    );
    const analysis = ok(await alice.get(`/sessions/${h.session}/analyses/${aid}`));
    const [job] = await engine.ask({ whitelist: { tag: ['analysis'] } });
    expect(job.id).toBe(analysis.job);
    expect(job.request.outputs[0].uri).toBe(`/engine?level=analysis&id=${aid}&job=${job.id}`);
    ok(
      await engine.finish(job, true, [{ name: 'stats.csv', content: 'a,b\n1,2\n' }], {
        acquisition: { files: [{ name: 'stats.csv', info: { rows: 1 } }] },
      }),
    );
    const after = ok(await alice.get(`/sessions/${h.session}/analyses/${aid}`));
    expect(after.files.map((f: any) => [f.name, f.info, f.origin.type])).toEqual([['stats.csv', { rows: 1 }, 'job']]);
  });
});

describe('api-key inputs', () => {
  it('mints keys only for the running job, read-only where asked, and revokes them at the end', async () => {
    const m = manifest({ inputs: { rw: { base: 'api-key' }, ro: { base: 'api-key', 'read-only': true } } });
    const gear = await addGear(s.admin, m);
    const id = await queue(alice, gear);
    // Before it runs, nobody gets a key (and an engine cannot even read a job it has not claimed).
    expect(ok(await s.admin.get(`/jobs/${id}/config.json`)).inputs).toEqual({ rw: { base: 'api-key' }, ro: { base: 'api-key' } });
    expect((await engine.api.get(`/jobs/${id}/config.json`)).status).toBe(404);
    const [job] = await engine.ask({ whitelist: { 'gear-name': [m.name] } });
    const config = ok(await engine.api.get(`/jobs/${job.id}/config.json`));
    const keys = { rw: config.inputs.rw.key as string, ro: config.inputs.ro.key as string };
    expect(keys.rw).toMatch(/^127\.0\.0\.1:\d+:__force_insecure:.+/);
    expect(keys.ro).not.toBe(keys.rw);
    // The user reading the config sees no secret; the stored job never holds one.
    expect(ok(await alice.get(`/jobs/${id}/config.json`)).inputs.rw).toEqual({ base: 'api-key' });
    expect(JSON.stringify(ok(await alice.get(`/jobs/${id}`)))).not.toContain(keys.rw.split(':').pop());

    const rw = s.as(keys.rw);
    const ro = s.as(keys.ro);
    expect(ok(await rw.get('/users/self'))._id).toBe('alice@lab.org');
    expect((await ro.get(`/acquisitions/${h.acquisition}`)).status).toBe(200);
    const refused = await ro.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'ro.txt', content: 'x' }]);
    expect(refused.status).toBe(403);
    const written = await rw.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'by-gear.txt', content: 'x' }]);
    expect(written.status).toBe(200);
    expect(written.body[0].origin).toMatchObject({ type: 'job', id, via: { type: 'user', id: 'alice@lab.org' } });
    expect((await rw.post('/users/self/key', {})).status).toBe(403);

    ok(await engine.complete(id, true));
    expect((await rw.get('/users/self')).status).toBe(401);
    expect((await ro.get(`/acquisitions/${h.acquisition}`)).status).toBe(401);
  });

  it('revokes the keys of a cancelled job too', async () => {
    const m = manifest({ inputs: { key: { base: 'api-key', 'read-only': true } } });
    const gear = await addGear(s.admin, m);
    const id = await queue(alice, gear);
    await engine.ask({ whitelist: { 'gear-name': [m.name] } });
    const key = ok(await engine.api.get(`/jobs/${id}/config.json`)).inputs.key.key;
    expect((await s.as(key).get('/users/self')).status).toBe(200);
    ok(await alice.put(`/jobs/${id}`, { state: 'cancelled' }));
    expect((await s.as(key).get('/users/self')).status).toBe(401);
  });
});

/** Polls until `check` holds (bounded): waiting for the server's own timers, not timing them. */
async function eventually<T>(fn: () => Promise<T>, check: (v: T) => boolean, what: string, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (check(v)) return v;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

describe('engines that die, servers that restart', () => {
  it('fails jobs whose engine stops heartbeating and retries them up to the attempt limit', async () => {
    // 2 s leaves heartbeats sent every 200 ms a wide margin on a loaded machine.
    const o = await startTestServer({ env: { SPROCKET_JOB_HEARTBEAT_TIMEOUT: '2', SPROCKET_JOB_MAX_ATTEMPTS: '2' } });
    try {
      const eng = new EngineSim(o.as(engineKeyOf(o)), 'doomed/1');
      const oh = await makeHierarchy(o.admin);
      const m = manifest();
      const gear = await addGear(o.admin, m);
      const first = ok(await o.admin.post('/jobs/add', { gear_id: gear, destination: { type: 'acquisition', id: oh.acquisition } }))._id;
      expect((await eng.ask()).map((j) => j.id)).toEqual([first]);

      const failed = await eventually(
        () => o.admin.get(`/jobs/${first}`),
        (r) => r.body.state !== 'running',
        'the orphan sweep',
      );
      expect(failed.body).toMatchObject({
        state: 'failed',
        failure_reason: expect.stringMatching(/^orphaned: no heartbeat from engine doomed\/1/),
      });
      const log = ok(await o.admin.get(`/jobs/${first}/logs`)).logs.map((l: any) => `${l.fd} ${l.msg}`);
      expect(log[0]).toMatch(/^-1 Job orphaned: engine doomed\/1 sent no heartbeat for more than 2 s/);
      expect(log[1]).toMatch(/^-1 Retried as job [0-9a-f]{24} \(attempt 2 of 2\)/);
      const [retry] = ok(await o.admin.get(`/jobs?filter=previous_job_id=${first}`));
      expect(retry).toMatchObject({
        state: 'pending',
        attempt: 2,
        previous_job_id: first,
        destination: { type: 'acquisition', id: oh.acquisition },
      });
      // The dead engine's late report changes nothing.
      expect((await eng.complete(first, true)).status).toBe(409);
      expect((await eng.api.post(`/jobs/${first}/prepare-complete`, { success: true })).status).toBe(409);

      // A job that heartbeats stays running past the timeout…
      expect((await eng.ask()).map((j) => j.id)).toEqual([retry.id]);
      for (let i = 0; i < 16; i++) {
        expect(ok(await eng.heartbeat(retry.id))).toEqual({ state: 'running' });
        await new Promise((r) => setTimeout(r, 200));
      }
      // …and is orphaned once it stops; at the attempt limit it is not retried again.
      await eventually(
        () => o.admin.get(`/jobs/${retry.id}`),
        (r) => r.body.state === 'failed',
        'the second orphaning',
      );
      const log2 = ok(await o.admin.get(`/jobs/${retry.id}/logs`)).logs.map((l: any) => l.msg);
      expect(log2.at(-1)).toBe('Not retried: attempt 2 reached SPROCKET_JOB_MAX_ATTEMPTS (2).\n');
      expect(ok(await o.admin.get(`/jobs?filter=previous_job_id=${retry.id}`))).toEqual([]);
      expect(ok(await o.admin.get('/jobs?filter=state=pending'))).toEqual([]);
    } finally {
      await o.stop();
    }
  });

  it('loses nothing across a server restart mid-run', async () => {
    const first = await startTestServer();
    const dataDir = first.dataDir;
    const databaseUrl = first.ctx.config.databaseUrl;
    const fh = await makeHierarchy(first.admin);
    const m = manifest();
    const gear = await addGear(first.admin, m);
    const running = ok(
      await first.admin.post('/jobs/add', { gear_id: gear, destination: { type: 'acquisition', id: fh.acquisition } }),
    )._id;
    const key = engineKeyOf(first);
    const [job] = await new EngineSim(first.as(key)).ask();
    expect(job.id).toBe(running);
    const waiting = ok(
      await first.admin.post('/jobs/add', { gear_id: gear, destination: { type: 'acquisition', id: fh.acquisition } }),
    )._id;
    await first.stop();

    const second = await startTestServer({ dataDir, databaseUrl });
    try {
      const eng = new EngineSim(second.as(key));
      expect(ok(await eng.heartbeat(running, [{ fd: 1, msg: 'still here\n' }]))).toEqual({ state: 'running' });
      const moved = { ...job, request: { ...job.request } };
      ok(await eng.finish(moved, true, [{ name: 'after-restart.txt', content: 'ok' }]));
      expect(ok(await second.admin.get(`/jobs/${running}`))).toMatchObject({ state: 'complete', saved_files: ['after-restart.txt'] });
      expect((await eng.ask()).map((j) => j.id)).toEqual([waiting]);
    } finally {
      await second.stop();
    }
  });
});

describe('several server processes on one database', () => {
  it('share one queue: claims stay exclusive and a long poll on one sees jobs queued on the other', async () => {
    const a = await startTestServer();
    const b = await startTestServer({ dataDir: a.dataDir, databaseUrl: a.ctx.config.databaseUrl });
    try {
      const key = engineKeyOf(a);
      const ea = new EngineSim(a.as(key), 'on-a');
      const eb = new EngineSim(b.as(key), 'on-b');
      const ah = await makeHierarchy(a.admin);
      const m = manifest();
      const gear = await addGear(a.admin, m);
      const queued = new Set<string>();
      for (let i = 0; i < 60; i++)
        queued.add(ok(await a.admin.post('/jobs/add', { gear_id: gear, destination: { type: 'acquisition', id: ah.acquisition } }))._id);
      const got: string[] = [];
      await Promise.all(
        [ea, eb, ea, eb].map(async (e) => {
          for (;;) {
            const jobs = await e.ask({ jobs: 2 });
            if (!jobs.length) return;
            got.push(...jobs.map((j) => j.id));
          }
        }),
      );
      expect(got).toHaveLength(60);
      expect(new Set(got)).toEqual(queued);

      const waiting = eb.ask({ wait: 30 });
      await new Promise((r) => setTimeout(r, 200));
      const id = ok(await a.admin.post('/jobs/add', { gear_id: gear, destination: { type: 'acquisition', id: ah.acquisition } }))._id;
      expect((await waiting).map((j) => j.id)).toEqual([id]);
    } finally {
      await b.stop();
      await a.stop();
    }
  });
});
