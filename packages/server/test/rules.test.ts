import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUid, syntheticSeries } from '../../../test-fixtures/synthetic-dicom.js';
import { type EngineProcess, engineKey, startEngine, waitForJob } from '../../engine/test/engines.js';
import { eventually } from '../../engine/test/helpers.js';
import { dicomImporterOf } from '../src/dicom/importer.js';
import { globRegExp } from '../src/jobs/rule-conditions.js';
import { addGear, EngineSim, engineKeyOf, gearArchive, manifest, uploadArchive } from './gear-kit.js';
import { type Api, makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

let s: TestServer;
let engine: EngineSim;
let alice: Api;

beforeAll(async () => {
  s = await startTestServer();
  engine = new EngineSim(s.as(engineKeyOf(s)));
  alice = await makeUser(s, 'alice@rules.org');
});
afterAll(async () => {
  await s?.stop();
});

type Ids = Awaited<ReturnType<typeof makeHierarchy>>;

/** A gear taking one required file, with a config key that has a default. */
async function fileGear(over: Record<string, unknown> = {}): Promise<{ id: string; name: string }> {
  const m = manifest({
    inputs: { file: { base: 'file' } },
    config: { threshold: { type: 'integer', default: 3 }, mode: { type: 'string', default: 'fast' } },
    ...over,
  });
  return { id: await addGear(s.admin, m), name: m.name };
}

async function rule(projectId: string, body: Record<string, unknown>, api: Api = s.admin): Promise<string> {
  return ok(await api.post(`/projects/${projectId}/rules`, { name: 'rule', ...body }), 'create rule')._id;
}

async function ruleJobs(rid: string): Promise<any[]> {
  return ok(await s.admin.get(`/jobs?filter=origin.id=rule:${rid}&limit=1000&sort=created:asc`));
}

/** `{file name: number of jobs}` the rule launched. */
async function launchedOn(rid: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const j of await ruleJobs(rid)) out[j.inputs.file.name] = (out[j.inputs.file.name] ?? 0) + 1;
  return out;
}

function upload(api: Api, acq: string, name: string, content = `content of ${name}`, metadata?: unknown) {
  return api.upload(`/acquisitions/${acq}/files`, [{ name, content }], metadata).then((r) => ok(r, `upload ${name}`));
}

describe('saving rules', () => {
  let h: Ids;
  let gear: { id: string; name: string };
  beforeAll(async () => {
    h = await makeHierarchy(s.admin);
    gear = await fileGear();
  });

  it('stores the Flywheel rule model, `not` included, and lists, changes and deletes it', async () => {
    const id = await rule(h.project, {
      gear_id: gear.id,
      name: 'convert',
      any: [{ type: 'file.type', value: 'dicom' }],
      all: [{ type: 'file.name', value: '.*\\.dcm$', regex: true }],
      not: [{ type: 'file.classification', value: 'Localizer' }],
      config: { threshold: 5 },
    });
    const doc = ok(await s.admin.get(`/projects/${h.project}/rules/${id}`));
    expect(doc).toMatchObject({
      _id: id,
      project_id: h.project,
      gear_id: gear.id,
      name: 'convert',
      config: { threshold: 5 },
      fixed_inputs: [],
      auto_update: false,
      disabled: false,
      any: [{ type: 'file.type', value: 'dicom' }],
      all: [{ type: 'file.name', value: '.*\\.dcm$', regex: true }],
      not: [{ type: 'file.classification', value: 'Localizer' }],
    });
    expect(ok(await s.admin.get(`/projects/${h.project}/rules`)).map((r: any) => r._id)).toContain(id);
    const changed = ok(await s.admin.put(`/projects/${h.project}/rules/${id}`, { disabled: true, not: [] }));
    expect(changed).toMatchObject({ disabled: true, not: [], config: { threshold: 5 }, name: 'convert' });
    expect(ok(await s.admin.del(`/projects/${h.project}/rules/${id}`))).toEqual({ deleted: 1 });
    expect((await s.admin.get(`/projects/${h.project}/rules/${id}`)).status).toBe(404);
  });

  it('refuses rules that could not run, naming why', async () => {
    const two = await addGear(s.admin, manifest({ inputs: { a: { base: 'file' }, b: { base: 'file' } } }));
    const none = await addGear(s.admin, manifest({ inputs: { a: { base: 'file', optional: true } } }));
    const rwKey = await addGear(s.admin, manifest({ inputs: { file: { base: 'file' }, key: { base: 'api-key' } } }));
    const roKey = await addGear(s.admin, manifest({ inputs: { file: { base: 'file' }, key: { base: 'api-key', 'read-only': true } } }));
    const cond = { any: [{ type: 'file.type', value: 'dicom' }] };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ gear_id: gear.id }, /at least one condition/],
      [{ gear_id: gear.id, any: [{ type: 'file.size', value: '1' }] }, /any\[0\]\.type: 'file\.size' is not a condition type/],
      [
        { gear_id: gear.id, all: [{ type: 'file.name', value: '(unclosed', regex: true }] },
        /all\[0\]\.value: not a valid regular expression/,
      ],
      [{ gear_id: gear.id, any: [{ type: 'file.type', value: '' }] }, /any\[0\]\.value/],
      [{ gear_id: two, ...cond }, /exactly one required file input.*it has 2: a, b/],
      [{ gear_id: none, ...cond }, /exactly one required file input.*it has 0/],
      [{ gear_id: rwKey, ...cond }, /^Cannot create rule with a gear that requires a read-write api-key$/],
      [{ gear_id: gear.id, ...cond, auto_update: true, config: { threshold: 1 } }, /auto_update: cannot be combined with config/],
      [{ gear_id: gear.id, ...cond, config: { nope: 1 } }, /config\.nope.*not a config option/],
      [{ gear_id: gear.id, ...cond, config: { threshold: 'x' } }, /config.*threshold/],
      [{ gear_id: 'f'.repeat(24), ...cond }, /gear_id: gear f+ not found/],
      [
        { gear_id: two, ...cond, fixed_inputs: [{ input: 'b', type: 'acquisition', id: 'a'.repeat(24), name: 'x' }] },
        /fixed_inputs\[0\]: container a+ is not in this project/,
      ],
    ];
    for (const [body, why] of cases) {
      const r = await s.admin.post(`/projects/${h.project}/rules`, { name: 'bad', ...body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.message, JSON.stringify(body)).toMatch(why);
    }
    // A read-only key is fine, and so is a second required input pinned by fixed_inputs.
    await rule(h.project, { gear_id: roKey, ...cond });
    await upload(s.admin, h.acquisition, 'atlas.nii.gz');
    await rule(h.project, {
      gear_id: two,
      ...cond,
      fixed_inputs: [{ input: 'b', type: 'acquisition', id: h.acquisition, name: 'atlas.nii.gz' }],
    });
  });

  it('needs gear_rules_manage to change rules and gear_rules_view to read them', async () => {
    const hh = await makeHierarchy(s.admin);
    const bobId = `bob${Math.random().toString(36).slice(2, 7)}@rules.org`;
    const bob = await makeUser(s, bobId);
    ok(await s.admin.post(`/groups/${hh.group}/permissions`, { _id: bobId, access: 'rw' }));
    const body = { gear_id: gear.id, name: 'r', any: [{ type: 'file.type', value: 'dicom' }] };
    expect((await bob.post(`/projects/${hh.project}/rules`, body)).status).toBe(403);
    const id = await rule(hh.project, body);
    expect(ok(await bob.get(`/projects/${hh.project}/rules`))).toHaveLength(1);
    expect((await bob.put(`/projects/${hh.project}/rules/${id}`, { disabled: true })).status).toBe(403);
    expect((await bob.del(`/projects/${hh.project}/rules/${id}`)).status).toBe(403);
    expect((await alice.get(`/projects/${hh.project}/rules`)).status).toBe(404);
    // A rule id is only reachable through its own project.
    expect((await s.admin.get(`/projects/${h.project}/rules/${id}`)).status).toBe(404);
  });
});

describe('conditions', () => {
  it('file.type, file.modality and file.classification compare case-insensitively', async () => {
    const h = await makeHierarchy(s.admin);
    const g = await fileGear();
    const byType = await rule(h.project, { gear_id: g.id, any: [{ type: 'file.type', value: 'NIFTI' }] });
    const byModality = await rule(h.project, { gear_id: g.id, any: [{ type: 'file.modality', value: 'mr' }] });
    const byClass = await rule(h.project, { gear_id: g.id, any: [{ type: 'file.classification', value: 't1' }] });
    await upload(s.admin, h.acquisition, 'a.nii.gz');
    await upload(s.admin, h.acquisition, 'b.txt', 'b', { modality: 'MR' });
    await upload(s.admin, h.acquisition, 'c.txt', 'c', { classification: { Intent: ['Structural'], Measurement: ['T1'] } });
    await upload(s.admin, h.acquisition, 'd.txt', 'd', { modality: 'CT', classification: { Measurement: ['T2'] } });
    expect(await launchedOn(byType)).toEqual({ 'a.nii.gz': 1 });
    expect(await launchedOn(byModality)).toEqual({ 'b.txt': 1 });
    expect(await launchedOn(byClass)).toEqual({ 'c.txt': 1 });
  });

  it('file.name: shell glob (case-insensitive, whole name) or regex matched from the start', async () => {
    const h = await makeHierarchy(s.admin);
    const glob = await rule(h.project, { gear_id: (await fileGear()).id, any: [{ type: 'file.name', value: '*_T1w.nii*' }] });
    const chars = await rule(h.project, { gear_id: (await fileGear()).id, any: [{ type: 'file.name', value: 'run-[0-9]?.[!d]*' }] });
    const regex = await rule(h.project, { gear_id: (await fileGear()).id, any: [{ type: 'file.name', value: 'sub-\\d+_', regex: true }] });
    for (const n of ['sub-01_T1w.nii.gz', 'SUB-02_t1w.NII', 'x_T1w.json', 'run-12.txt', 'run-1x.dcm', 'pre-sub-03_bold.nii'])
      await upload(s.admin, h.acquisition, n);
    expect(await launchedOn(glob)).toEqual({ 'sub-01_T1w.nii.gz': 1, 'SUB-02_t1w.NII': 1 });
    expect(await launchedOn(chars)).toEqual({ 'run-12.txt': 1 });
    expect(await launchedOn(regex)).toEqual({ 'sub-01_T1w.nii.gz': 1, 'SUB-02_t1w.NII': 1 });
  });

  it('container.has-type and container.has-classification look at every file of the container', async () => {
    const h = await makeHierarchy(s.admin);
    const acq2 = ok(await s.admin.post('/acquisitions', { session: h.session, label: 'other' }))._id;
    const hasType = await rule(h.project, {
      gear_id: (await fileGear()).id,
      all: [
        { type: 'file.type', value: 'nifti' },
        { type: 'container.has-type', value: 'bval' },
      ],
    });
    const hasClass = await rule(h.project, {
      gear_id: (await fileGear()).id,
      all: [
        { type: 'file.type', value: 'nifti' },
        { type: 'container.has-classification', value: 'Diffusion' },
      ],
    });
    await upload(s.admin, h.acquisition, 'dwi.nii.gz');
    await upload(s.admin, acq2, 'other.nii.gz');
    expect(await launchedOn(hasType)).toEqual({});
    // A new sibling makes the earlier file match: the change launches its job.
    await upload(s.admin, h.acquisition, 'dwi.bval');
    expect(await launchedOn(hasType)).toEqual({ 'dwi.nii.gz': 1 });
    ok(await s.admin.post(`/acquisitions/${acq2}/files/other.nii.gz/classification`, { add: { Intent: ['Structural'] } }));
    expect(await launchedOn(hasClass)).toEqual({});
    ok(await s.admin.post(`/acquisitions/${acq2}/files/other.nii.gz/classification`, { add: { Measurement: ['Diffusion'] } }));
    expect(await launchedOn(hasClass)).toEqual({ 'other.nii.gz': 1 });
  });

  it('any / all / not combine as the reference says; disabled rules do nothing', async () => {
    const h = await makeHierarchy(s.admin);
    const combo = await rule(h.project, {
      gear_id: (await fileGear()).id,
      any: [
        { type: 'file.type', value: 'nifti' },
        { type: 'file.type', value: 'dicom' },
      ],
      all: [{ type: 'file.name', value: 'sub-*' }],
      not: [{ type: 'file.name', value: '*localizer*' }],
    });
    const onlyNot = await rule(h.project, { gear_id: (await fileGear()).id, not: [{ type: 'file.type', value: 'nifti' }] });
    const off = await rule(h.project, { gear_id: (await fileGear()).id, any: [{ type: 'file.type', value: 'nifti' }], disabled: true });
    for (const n of ['sub-01_T1w.nii.gz', 'sub-01_scan.dcm', 'sub-01_localizer.nii.gz', 'other.nii.gz', 'sub-01.txt'])
      await upload(s.admin, h.acquisition, n);
    expect(await launchedOn(combo)).toEqual({ 'sub-01_T1w.nii.gz': 1, 'sub-01_scan.dcm': 1 });
    expect(await launchedOn(onlyNot)).toEqual({ 'sub-01_scan.dcm': 1, 'sub-01.txt': 1 });
    expect(await launchedOn(off)).toEqual({});
  });
});

describe('file.name globs read as fnmatch reads them', () => {
  it.each([
    ['*.nii.gz', 'a.NII.GZ', true],
    ['[]a]x', ']x', true],
    ['[!]a]x', 'bx', true],
    ['[!]a]x', ']x', false],
    ['[^a]', '^', true],
    ['[^a]', 'b', false],
    ['a[b', 'a[b', true],
    ['[a-c]?', 'bz', true],
    ['f(1)+.txt', 'f(1)+.txt', true],
    ['x\\y', 'x\\y', true],
    ['sub-*', 'xsub-01', false],
  ])('%s against %s: %s', (glob, name, want) => {
    expect(globRegExp(glob).test(name)).toBe(want);
  });
});

describe('rule jobs', () => {
  it('run the matching file into its container with the rule config over the defaults, tagged auto', async () => {
    const h = await makeHierarchy(s.admin);
    const g = await fileGear();
    const rid = await rule(h.project, {
      gear_id: g.id,
      any: [{ type: 'file.type', value: 'nifti' }],
      config: { threshold: 9 },
      priority: 'high',
    });
    await upload(s.admin, h.acquisition, 'brain.nii.gz');
    const sessionUpload = await s.admin.upload(`/sessions/${h.session}/files`, [{ name: 'session.nii.gz', content: 'x' }]);
    expect(sessionUpload.status).toBe(200);
    const jobs = await ruleJobs(rid);
    expect(jobs).toHaveLength(2);
    const [acqJob, sesJob] = jobs;
    expect(acqJob).toMatchObject({
      gear_id: g.id,
      state: 'pending',
      priority: 'high',
      origin: { type: 'system', id: `rule:${rid}` },
      inputs: { file: { type: 'acquisition', id: h.acquisition, name: 'brain.nii.gz' } },
      destination: { type: 'acquisition', id: h.acquisition },
      config: { config: { threshold: 9, mode: 'fast' } },
    });
    expect(acqJob.tags.sort()).toEqual(['auto', g.name].sort());
    expect(sesJob).toMatchObject({
      destination: { type: 'session', id: h.session },
      inputs: { file: { type: 'session', name: 'session.nii.gz' } },
    });
  });

  it('never launches the same job twice: identical re-uploads and metadata edits that keep the match', async () => {
    const h = await makeHierarchy(s.admin);
    const rid = await rule(h.project, { gear_id: (await fileGear()).id, any: [{ type: 'file.type', value: 'nifti' }] });
    const cls = await rule(h.project, { gear_id: (await fileGear()).id, any: [{ type: 'file.classification', value: 'T1' }] });
    await upload(s.admin, h.acquisition, 't1.nii.gz', 'image v1');
    expect(await launchedOn(rid)).toEqual({ 't1.nii.gz': 1 });
    // Metadata changes that leave the match as it was launch nothing.
    ok(await s.admin.post(`/acquisitions/${h.acquisition}/files/t1.nii.gz/info`, { set: { qa: 'pass' } }));
    ok(await s.admin.put(`/acquisitions/${h.acquisition}/files/t1.nii.gz`, { modality: 'MR' }));
    ok(await s.admin.put(`/acquisitions/${h.acquisition}/files/t1.nii.gz`, { modality: 'MR' }));
    // The same bytes uploaded again are a new version but not new content.
    await upload(s.admin, h.acquisition, 't1.nii.gz', 'image v1');
    expect(await launchedOn(rid)).toEqual({ 't1.nii.gz': 1 });
    // A metadata change that makes a rule match launches that rule's job, once.
    ok(await s.admin.post(`/acquisitions/${h.acquisition}/files/t1.nii.gz/classification`, { add: { Measurement: ['T1'] } }));
    ok(await s.admin.post(`/acquisitions/${h.acquisition}/files/t1.nii.gz/classification`, { add: { Measurement: ['T1'] } }));
    ok(await s.admin.post(`/acquisitions/${h.acquisition}/files/t1.nii.gz/classification`, { add: { Intent: ['Structural'] } }));
    expect(await launchedOn(cls)).toEqual({ 't1.nii.gz': 1 });
    // New content under the same name re-triggers every rule it matches.
    await upload(s.admin, h.acquisition, 't1.nii.gz', 'image v2', { classification: { Measurement: ['T1'] } });
    expect(await launchedOn(rid)).toEqual({ 't1.nii.gz': 2 });
    expect(await launchedOn(cls)).toEqual({ 't1.nii.gz': 2 });
    const versions = (await ruleJobs(rid)).map((j) => j.inputs.file.version);
    expect(versions).toEqual([1, 3]);
  });

  it('DICOM header extraction is a metadata change: classification rules fire once it lands, type rules do not fire again', async () => {
    const h = await makeHierarchy(s.admin);
    const byType = await rule(h.project, { gear_id: (await fileGear()).id, any: [{ type: 'file.type', value: 'dicom' }] });
    const byClass = await rule(h.project, {
      gear_id: (await fileGear()).id,
      all: [
        { type: 'file.type', value: 'dicom' },
        { type: 'file.classification', value: 'T1' },
      ],
    });
    const [slice] = syntheticSeries({
      patientId: 'p1',
      studyUid: newUid(),
      seriesUid: newUid(),
      seriesNumber: 1,
      seriesDescription: 'T1w MPRAGE',
      slices: 1,
      rows: 8,
      columns: 8,
      inversionTime: 900,
      repetitionTime: 2300,
      echoTime: 3,
    });
    ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'mprage.dcm', content: new Blob([slice!]) }]));
    expect(await launchedOn(byType)).toEqual({ 'mprage.dcm': 1 });
    await dicomImporterOf(s.ctx)!.idle();
    const f = ok(await s.admin.get(`/acquisitions/${h.acquisition}/files/mprage.dcm/info`));
    expect(f.classification.Measurement).toContain('T1');
    expect(await launchedOn(byClass)).toEqual({ 'mprage.dcm': 1 });
    expect(await launchedOn(byType)).toEqual({ 'mprage.dcm': 1 });
  });

  it('gear outputs trigger only once their job completes; failed outputs never, accepted ones then do', async () => {
    const h = await makeHierarchy(s.admin);
    const producer = await fileGear();
    const consumer = await fileGear();
    const first = await rule(h.project, { gear_id: producer.id, any: [{ type: 'file.type', value: 'dicom' }] });
    const next = await rule(h.project, { gear_id: consumer.id, any: [{ type: 'file.type', value: 'nifti' }] });
    await upload(s.admin, h.acquisition, 'a.dcm');
    await upload(s.admin, h.acquisition, 'b.dcm');
    const jobs = await engine.ask({ jobs: 2, whitelist: { 'gear-name': [producer.name] } });
    expect(jobs).toHaveLength(2);
    const [ok1, bad] = jobs.sort((x, y) => x.inputs.file.name.localeCompare(y.inputs.file.name));
    const ticket = await engine.prepare(ok1.id, true);
    ok(await engine.upload(ok1, ticket, [{ name: 'a.nii.gz', content: 'converted a' }]));
    // Uploaded but not complete: nothing yet.
    expect(await launchedOn(next)).toEqual({});
    ok(await engine.complete(ok1.id, true));
    const downstream = await ruleJobs(next);
    expect(downstream.map((j) => j.inputs.file.name)).toEqual(['a.nii.gz']);
    // A failed job's outputs stay quiet…
    ok(await engine.finish(bad, false, [{ name: 'b.nii.gz', content: 'half converted' }]));
    expect(await launchedOn(next)).toEqual({ 'a.nii.gz': 1 });
    // …until someone accepts them.
    ok(await s.admin.post(`/jobs/${bad.id}/accept-failed-output`));
    expect(await launchedOn(next)).toEqual({ 'a.nii.gz': 1, 'b.nii.gz': 1 });
    expect(await launchedOn(first)).toEqual({ 'a.dcm': 1, 'b.dcm': 1 });
  });

  it('a rule that cannot launch never fails the write that triggered it', async () => {
    const h = await makeHierarchy(s.admin);
    const picky = await addGear(s.admin, manifest({ inputs: { file: { base: 'file', type: { enum: ['nifti'] } } } }));
    const rid = await rule(h.project, { gear_id: picky, any: [{ type: 'file.name', value: '*.txt' }] });
    const r = await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'notes.txt', content: 'x' }]);
    expect(r.status).toBe(200);
    expect(ok(await s.admin.get(`/acquisitions/${h.acquisition}/files/notes.txt/info`)).name).toBe('notes.txt');
    expect(await ruleJobs(rid)).toEqual([]);
  });

  it('api-key gears get a read-only key acting as the rule author', async () => {
    const h = await makeHierarchy(s.admin);
    const m = manifest({ inputs: { file: { base: 'file' }, key: { base: 'api-key', 'read-only': true } } });
    const g = await addGear(s.admin, m);
    const rid = await rule(h.project, { gear_id: g, any: [{ type: 'file.type', value: 'nifti' }] });
    await upload(s.admin, h.acquisition, 'k.nii.gz');
    const [job] = await engine.ask({ whitelist: { 'gear-name': [m.name] } });
    expect(job.origin.id).toBe(`rule:${rid}`);
    const cfg = ok(await engine.api.get(`/jobs/${job.id}/config.json`));
    const key = cfg.inputs.key.key as string;
    const asJob = s.as(key);
    expect((await asJob.get(`/projects/${h.project}`)).status).toBe(200);
    expect((await asJob.post(`/acquisitions/${h.acquisition}/files/k.nii.gz/info`, { set: { x: 1 } })).status).toBe(403);
    ok(await engine.finish(job, true));
    expect((await asJob.get(`/projects/${h.project}`)).status).toBe(401);
  });
});

describe('auto_update', () => {
  it('rules follow new versions of their gear; a version that could not drive the rule is skipped', async () => {
    const h = await makeHierarchy(s.admin);
    const base = manifest({ inputs: { file: { base: 'file' } } });
    const v1 = await addGear(s.admin, base);
    const follows = await rule(h.project, { gear_id: v1, any: [{ type: 'file.type', value: 'nifti' }], auto_update: true });
    const pinned = await rule(h.project, { gear_id: v1, any: [{ type: 'file.type', value: 'dicom' }] });
    const v2 = await addGear(s.admin, { ...base, version: '1.1.0' });
    expect(ok(await s.admin.get(`/projects/${h.project}/rules/${follows}`)).gear_id).toBe(v2);
    expect(ok(await s.admin.get(`/projects/${h.project}/rules/${pinned}`)).gear_id).toBe(v1);
    const r = await uploadArchive(
      s.admin,
      await gearArchive({ ...base, version: '2.0.0', inputs: { file: { base: 'file' }, key: { base: 'api-key' } } }),
    );
    expect(r.status).toBe(200);
    expect(r.body.warnings.join('\n')).toMatch(new RegExp(`gear rule ${follows}.*stays on its current version: Cannot create rule`));
    expect(ok(await s.admin.get(`/projects/${h.project}/rules/${follows}`)).gear_id).toBe(v2);
    await upload(s.admin, h.acquisition, 'x.nii.gz');
    expect((await ruleJobs(follows)).map((j) => j.gear_id)).toEqual([v2]);
  });
});

describe('apply', () => {
  it('runs a rule over existing data; dry_run lists, a second apply launches nothing', async () => {
    const h = await makeHierarchy(s.admin);
    const acq2 = ok(await s.admin.post('/acquisitions', { session: h.session, label: 'second' }))._id;
    for (const n of ['a.nii.gz', 'b.nii.gz', 'notes.txt']) await upload(s.admin, h.acquisition, n);
    await upload(s.admin, acq2, 'c.nii.gz');
    ok(await s.admin.upload(`/projects/${h.project}/files`, [{ name: 'atlas.nii.gz', content: 'atlas' }]));
    const rid = await rule(h.project, { gear_id: (await fileGear()).id, any: [{ type: 'file.type', value: 'nifti' }], disabled: true });
    expect(await launchedOn(rid)).toEqual({});
    const dry = ok(await s.admin.post(`/projects/${h.project}/rules/${rid}/apply`, { dry_run: true }));
    expect(dry).toMatchObject({ dry_run: true, would_launch: 4, already_launched: 0 });
    expect(dry.jobs.map((j: any) => `${j.container.type}:${j.file}`).sort()).toEqual([
      'acquisition:a.nii.gz',
      'acquisition:b.nii.gz',
      'acquisition:c.nii.gz',
      'project:atlas.nii.gz',
    ]);
    expect(await launchedOn(rid)).toEqual({});
    const run = ok(await s.admin.post(`/projects/${h.project}/rules/${rid}/apply`, {}));
    expect(run).toMatchObject({ dry_run: false, launched: 4, already_launched: 0 });
    expect(run.jobs.every((j: any) => /^[0-9a-f]{24}$/.test(j.job))).toBe(true);
    expect(await launchedOn(rid)).toEqual({ 'a.nii.gz': 1, 'b.nii.gz': 1, 'c.nii.gz': 1, 'atlas.nii.gz': 1 });
    const again = ok(await s.admin.post(`/projects/${h.project}/rules/${rid}/apply`, {}));
    expect(again).toMatchObject({ launched: 0, already_launched: 4, jobs: [] });
    await upload(s.admin, acq2, 'd.nii.gz');
    expect(ok(await s.admin.post(`/projects/${h.project}/rules/${rid}/apply`, { dry_run: true }))).toMatchObject({
      would_launch: 1,
      already_launched: 4,
    });
  });
});

describe('a pipeline of rules with a real engine', () => {
  let server: TestServer;
  let real: EngineProcess;
  beforeAll(async () => {
    server = await startTestServer();
    real = startEngine(await engineKey(server.admin), { concurrency: 2, executor: 'process' });
  });
  afterAll(async () => {
    await real?.stop();
    await server?.stop();
  });

  async function gear(m: Record<string, unknown>, run: string): Promise<string> {
    const r = await uploadArchive(server.admin, await gearArchive(m, { files: { run } }));
    return ok(r, 'gear upload')._id;
  }

  it('dicom → converter → nifti → qa: each output launches the next step once; a failed conversion stops there', async () => {
    const h = await makeHierarchy(server.admin);
    const converter = await gear(
      manifest({ inputs: { dicom: { base: 'file', type: { enum: ['dicom'] } } } }),
      '#!/bin/bash\nset -e\nf=$(ls input/dicom)\necho "volume from $f" > "output/$(basename "$f" .dcm).nii.gz"\ncase "$f" in bad*) exit 1;; esac\n',
    );
    const qa = await gear(
      manifest({ inputs: { nifti: { base: 'file', type: { enum: ['nifti'] } } } }),
      '#!/bin/bash\nset -e\nf=$(ls input/nifti)\necho "{\\"input\\": \\"$f\\"}" > "output/$(basename "$f" .nii.gz).qa.json"\n',
    );
    const toNifti = await rule(h.project, { gear_id: converter, any: [{ type: 'file.type', value: 'dicom' }] }, server.admin);
    const toQa = await rule(h.project, { gear_id: qa, any: [{ type: 'file.type', value: 'nifti' }] }, server.admin);
    for (const name of ['scan.dcm', 'bad.dcm'])
      ok(await server.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name, content: 'not really dicom' }]));

    const jobsOf = async (rid: string) => ok(await server.admin.get(`/jobs?filter=origin.id=rule:${rid}&sort=created:asc`)) as any[];
    const done = await eventually(async () => (await jobsOf(toQa)).some((j) => j.state === 'complete'), 40_000, 100);
    expect(done, real.output()).toBe(true);
    const conversions = await jobsOf(toNifti);
    expect(conversions).toHaveLength(2);
    const byInput = Object.fromEntries(
      await Promise.all(conversions.map(async (j) => [j.inputs.dicom.name, await waitForJob(server.admin, j.id)])),
    );
    expect(byInput['scan.dcm'].state).toBe('complete');
    expect(byInput['bad.dcm'].state).toBe('failed');
    const checks = await jobsOf(toQa);
    expect(checks.map((j) => j.inputs.nifti.name)).toEqual(['scan.nii.gz']);
    expect(checks[0].tags).toEqual(expect.arrayContaining(['auto']));
    const files = ok(await server.admin.get(`/acquisitions/${h.acquisition}`)).files;
    const byName = Object.fromEntries(files.map((f: any) => [f.name, f]));
    expect(byName['scan.qa.json']).toMatchObject({ type: 'qa', origin: { type: 'job', id: checks[0].id } });
    expect(byName['bad.nii.gz']).toMatchObject({ from_failed_job: true });
    // Nothing further is queued: the QA report matches no rule.
    const all = ok(await server.admin.get('/jobs?limit=100'));
    expect(all.filter((j: any) => j.state === 'pending' || j.state === 'running')).toEqual([]);
    expect(all).toHaveLength(3);
  });
});
