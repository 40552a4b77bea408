import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGears } from '../../../scripts/build-gears.js';
import { type EngineProcess, engineKey, startEngine, waitForJob } from '../../engine/test/engines.js';
import { uploadArchive } from './gear-kit.js';
import { startTestServer, type TestServer } from './helpers.js';
import { ok } from './people.js';

/**
 * A data view over what a real gear wrote: the nifti-qa gear this repository ships runs in a real
 * engine on a NIfTI in each acquisition, once as a job writing into the acquisition and once as an
 * analysis; views with processFiles read its `<stem>_qa.json` back as one typed row per file.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

async function packNiftiQa(): Promise<Buffer> {
  const dir = path.join(ROOT, 'gears', 'nifti-qa');
  if (!fs.existsSync(path.join(dir, 'dist', 'run.mjs'))) await buildGears(['nifti-qa']);
  const r = spawnSync('tar', ['-czf', '-', '--exclude=./test', '--exclude=./src', '-C', dir, '.'], { maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`tar of nifti-qa failed: ${r.stderr}`);
  return r.stdout;
}

/**
 * A NIfTI-1 head phantom: an ellipsoid of two tissues (a bright core in a darker shell) in noisy
 * background, int16, 2 mm voxels, gzip-compressed. `seed` varies the noise, so metrics differ.
 */
function phantom(seed: number): Buffer {
  const [nx, ny, nz] = [40, 40, 28];
  const hdr = Buffer.alloc(352);
  hdr.writeInt32LE(348, 0);
  for (const [k, v] of [3, nx, ny, nz, 1, 1, 1, 1].entries()) hdr.writeInt16LE(v, 40 + 2 * k);
  hdr.writeInt16LE(4, 70); // int16
  hdr.writeInt16LE(16, 72);
  for (const [k, v] of [1, 2, 2, 2].entries()) hdr.writeFloatLE(v, 76 + 4 * k);
  hdr.writeFloatLE(352, 108);
  hdr.writeUInt8(2, 123); // mm
  hdr.write('n+1\0', 344, 'latin1');
  let state = seed * 7919 + 1;
  const rand = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const data = Buffer.alloc(nx * ny * nz * 2);
  let i = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const r = Math.hypot((x - nx / 2) / 15, (y - ny / 2) / 16, (z - nz / 2) / 10);
        const base = r < 0.55 ? 1200 : r < 1 ? 700 : 0;
        const v = base ? base + 40 * gauss() : Math.abs(15 * gauss());
        data.writeInt16LE(Math.round(v), 2 * i++);
      }
    }
  }
  return gzipSync(Buffer.concat([hdr, data]));
}

let s: TestServer;
let engine: EngineProcess;
let project: string;
let gearId: string;
const acqs: { id: string; subject: string }[] = [];

beforeAll(async () => {
  const archive = await packNiftiQa();
  s = await startTestServer();
  const gear = await uploadArchive(s.admin, archive);
  expect(gear.status, JSON.stringify(gear.body)).toBe(200);
  gearId = gear.body._id;
  engine = startEngine(await engineKey(s.admin, 'views engine'), { concurrency: 2, executor: 'process' });
  ok(await s.admin.post('/groups', { _id: 'vqa', label: 'View QA' }));
  project = ok(await s.admin.post('/projects', { group: 'vqa', label: 'QA' }))._id;
  const jobs: string[] = [];
  for (const [i, subject] of ['sub-01', 'sub-02'].entries()) {
    const ses = ok(await s.admin.post('/sessions', { project, label: 'ses-1', subject: { label: subject } }))._id;
    const acq = ok(await s.admin.post('/acquisitions', { session: ses, label: 'T1w' }))._id;
    acqs.push({ id: acq, subject });
    ok(
      await s.admin.upload(`/acquisitions/${acq}/files`, [{ name: 'T1w.nii.gz', content: new Blob([phantom(i + 1)]) }], { type: 'nifti' }),
    );
    const input = { nifti: { type: 'acquisition', id: acq, name: 'T1w.nii.gz' } };
    // Into the acquisition itself …
    jobs.push(ok(await s.admin.post('/jobs/add', { gear_id: gearId, inputs: input }))._id);
    // … and as an analysis under it.
    const analysis = ok(
      await s.admin.post(`/acquisitions/${acq}/analyses`, { label: `qa ${subject}`, job: { gear_id: gearId, inputs: input } }),
    )._id;
    const job = ok(await s.admin.get(`/analyses/${analysis}`)).job;
    jobs.push(typeof job === 'string' ? job : job.id);
  }
  for (const j of jobs) {
    const done = await waitForJob(s.admin, j, undefined, 120_000);
    expect(done.state, `job ${j}: ${engine.output()}`).toBe('complete');
  }
}, 240_000);
afterAll(async () => {
  await engine?.stop();
  await s?.stop();
});

const run = (view: unknown) => s.admin.request('POST', `/views/data?containerId=${project}`, view);

/** What the gear wrote, read back as a user would download it. */
async function written(holder: string, name: string): Promise<Record<string, any>> {
  const r = await s.admin.bytes(`/${holder}/files/${encodeURIComponent(name)}`);
  expect(r.status).toBe(200);
  return JSON.parse(r.data.toString('utf8'));
}

describe('views over the QA gear output', () => {
  it('reads each acquisition’s T1w_qa.json as one row with the typed columns asked for', async () => {
    const r = await run({
      columns: [{ src: 'subject.label', dst: 'subject' }, { src: 'file.name' }],
      fileSpec: {
        container: 'acquisition',
        filter: { value: '*_qa.json' },
        processFiles: true,
        columns: [
          { src: 'snr', type: 'float' },
          { src: 'efc', type: 'float' },
          { src: 'fber', type: 'float' },
          { src: 'qa_tool.name', dst: 'tool' },
          { src: 'qa_tool.version', dst: 'version', type: 'string' },
        ],
      },
      includeIds: false,
      includeLabels: false,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.data).toHaveLength(2);
    for (const [i, row] of r.body.data.entries()) {
      const json = await written(`acquisitions/${acqs[i]!.id}`, 'T1w_qa.json');
      expect(Object.keys(row)).toEqual(['subject', 'file.name', 'snr', 'efc', 'fber', 'tool', 'version']);
      expect(row).toEqual({
        subject: acqs[i]!.subject,
        'file.name': 'T1w_qa.json',
        snr: json.snr,
        efc: json.efc,
        fber: json.fber,
        tool: 'nifti-qa',
        version: '0.1.0',
      });
      expect(typeof row.snr).toBe('number');
    }
    // Different noise, different metrics: the rows come from each file, not from one.
    expect(r.body.data[0].snr).not.toBe(r.body.data[1].snr);
  });

  it('takes the same file from the analyses the gear ran, selected by gear name and version', async () => {
    const view = (gear: string, version = '0.*') => ({
      columns: [{ src: 'subject.label' }, { src: 'analysis.label' }, { src: 'analysis.gear_info.name', dst: 'gear' }],
      fileSpec: {
        container: 'acquisition',
        analysisFilter: { 'gear.name': { value: gear }, 'gear.version': { value: version } },
        filter: { value: '*_qa.json' },
        processFiles: true,
        columns: [
          { src: 'snr', type: 'float' },
          { src: 'cjv', type: 'float' },
        ],
      },
      includeIds: false,
      includeLabels: false,
    });
    const r = await run(view('nifti-qa'));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const analyses = ok(await s.admin.get(`/acquisitions/${acqs[0]!.id}/analyses`));
    const json = await written(`analyses/${analyses[0]._id}`, 'T1w_qa.json');
    expect(r.body.data).toHaveLength(2);
    expect(r.body.data[0]).toEqual({
      'subject.label': 'sub-01',
      'analysis.label': 'qa sub-01',
      gear: 'nifti-qa',
      snr: json.snr,
      cjv: json.cjv,
    });
    expect(r.body.data[1]['analysis.label']).toBe('qa sub-02');
    expect((await run(view('dcm2niix'))).body.data).toEqual([]);
    expect((await run(view('nifti-*', '1.*'))).body.data).toEqual([]);
    const csv = await s.admin.request('POST', `/views/data?containerId=${project}&format=csv`, view('nifti-qa'));
    expect((csv.body as string).trim().split('\n')).toEqual([
      'subject.label,analysis.label,gear,snr,cjv',
      `sub-01,qa sub-01,nifti-qa,${json.snr},${json.cjv}`,
      expect.stringMatching(/^sub-02,qa sub-02,nifti-qa,[\d.e-]+,[\d.e-]+$/),
    ]);
  });
});
