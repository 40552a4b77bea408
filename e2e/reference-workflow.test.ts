import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, type FileEntry, type Gear, type Group, type Project } from '@sprocket/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineProcess, engineKey, startEngine } from '../packages/engine/test/engines.js';
import { startTestServer, type TestServer } from '../packages/server/test/helpers.js';
import { buildGears } from '../scripts/build-gears.js';
import { type RealSeries, realSeries } from '../test-fixtures/real-series.js';
import { parseCsv } from './csv.js';
import { PYTHON, python, ROOT, run, sprocket } from './processes.js';

/**
 * The reference workflow (issue 5) on real scanner data: three subjects' DICOM series imported with
 * `sprocket import dicom`, the shipped gears uploaded with `sprocket gear upload`, dcm2niix and then
 * nifti-qa batch-run over the project, every QA output downloaded, and the QA table built by a data
 * view and written as CSV. The NIfTI volumes are checked against dcm2niix run by hand on the same
 * series, the metrics against gears/nifti-qa/test/reference_qa.py (numpy, nibabel, scipy).
 * Then the same with two gear rules and no script: importing the data is all it takes.
 */
const METRICS = ['snr', 'efc', 'fber', 'fwhm_avg', 'cjv', 'cnr', 'summary_fg_mean', 'summary_bg_stdv', 'tsnr'];
const QA_VIEW = {
  columns: [
    { src: 'subject.label' },
    { src: 'session.label' },
    { src: 'acquisition.label' },
    { src: 'file.name' },
    ...METRICS.map((m) => ({ src: `file.info.${m}`, dst: m, type: 'float' })),
    { src: 'file.info.bids_meta.EchoTime', dst: 'EchoTime', type: 'float' },
  ],
  fileSpec: { container: 'acquisition', filter: { value: '*_qa.json' } },
  includeIds: false,
  includeLabels: false,
};
const REFERENCE_QA = path.join(ROOT, 'gears', 'nifti-qa', 'test', 'reference_qa.py');
const NIFTI_FACTS = path.join(ROOT, 'e2e', 'nifti_facts.py');

type Facts = { shape: number[]; zooms: number[]; dtype: string; sha1: string };

const hasTools =
  (await run(PYTHON, ['-c', 'import numpy, nibabel, scipy'])).status === 0 && (await run('/usr/bin/dcm2niix', ['-h'])).status === 0;
if (!hasTools)
  console.warn('reference workflow skipped: needs /usr/bin/dcm2niix and python3 with numpy, nibabel, scipy (npm run setup installs them)');

let s: TestServer;
let engine: EngineProcess;
let fw: Client;
let key: string;
let tmp: string;
let group: Group;
let series: RealSeries[] = [];
let skip: string | undefined;
/** Per subject: the NIfTI dcm2niix makes by hand, its sidecar, and the reference metrics of it. */
const byHand = new Map<string, { nifti: string; facts: Facts; sidecar: Record<string, unknown>; reference: Record<string, unknown> }>();

beforeAll(async () => {
  if (!hasTools) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-reference-'));
  const found = realSeries(path.join(tmp, 'dicom'));
  if (found.skip !== undefined) {
    skip = found.skip;
    console.warn(`reference workflow skipped: ${skip}`);
    return;
  }
  series = found.series;
  await buildGears();
  s = await startTestServer();
  key = s.admin.key!;
  fw = new Client(key);
  engine = startEngine(await engineKey(s.admin, 'reference engine'), { concurrency: 2 });
  group = await fw.addGroup({ id: `ref${Math.random().toString(36).slice(2, 8)}` });

  // dcm2niix by hand on each series, and the independent metrics of what it made.
  for (const x of series) {
    const out = path.join(tmp, 'by-hand', x.subject);
    fs.mkdirSync(out, { recursive: true });
    const r = await run('/usr/bin/dcm2niix', ['-z', 'y', '-b', 'y', '-f', '%p_%s', '-o', out, x.dir]);
    if (r.status !== 0) throw new Error(`dcm2niix by hand on ${x.what}: ${r.stdout}${r.stderr}`);
    const nifti = fs.readdirSync(out).filter((f) => f.endsWith('.nii.gz'));
    expect(nifti, `dcm2niix by hand on ${x.what}`).toHaveLength(1);
    const file = path.join(out, nifti[0]!);
    const facts = (await python<Record<string, Facts>>(NIFTI_FACTS, [file]))[file]!;
    const sidecar = JSON.parse(fs.readFileSync(file.replace(/\.nii\.gz$/, '.json'), 'utf8'));
    byHand.set(x.subject, { nifti: file, facts, sidecar, reference: await python(REFERENCE_QA, [file]) });
  }
}, 180_000);
afterAll(async () => {
  await engine?.stop();
  await s?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function importAll(projectLabel: string): Promise<void> {
  for (const x of series) await sprocket(key, ['import', 'dicom', x.dir, group.id, projectLabel, '--subject', x.subject], tmp);
}

/** The QA table of a project through the data view, as CSV text. */
async function qaTable(project: Project): Promise<string> {
  const r = await s.admin.request('POST', `/views/data?containerId=${project.id}&format=csv`, QA_VIEW);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as string;
}

function expectClose(got: string, want: unknown, what: string): void {
  if (want === null || want === undefined) {
    expect(got, what).toBe('');
    return;
  }
  const n = Number(got);
  expect(got, what).not.toBe('');
  expect(Math.abs(n - (want as number)), `${what}: ${got} vs reference ${want}`).toBeLessThanOrEqual(
    1e-6 * Math.max(1, Math.abs(want as number)),
  );
}

/** The table has one row per subject, and its metrics are those of the independent computation. */
function checkTable(rows: Record<string, string>[]): void {
  expect(rows.map((r) => r['subject.label']).sort()).toEqual(series.map((x) => x.subject));
  for (const row of rows) {
    const hand = byHand.get(row['subject.label']!)!;
    for (const m of METRICS) expectClose(row[m]!, hand.reference[m], `${row['subject.label']} ${m}`);
    expect(Number(row.EchoTime), `${row['subject.label']} EchoTime`).toBe(hand.sidecar.EchoTime);
  }
}

async function everyFile(project: Project): Promise<{ subject: string; acquisition: string; file: FileEntry }[]> {
  const out: { subject: string; acquisition: string; file: FileEntry }[] = [];
  for await (const session of project.sessions.iter()) {
    for await (const acq of session.acquisitions.iter()) {
      const full = await acq.reload();
      for (const file of full.files) out.push({ subject: session.subject.label, acquisition: full.label, file });
    }
  }
  return out;
}

describe.skipIf(!hasTools)('the reference workflow on real data', () => {
  it('batch: import three subjects, upload the gears, convert every DICOM, QA every NIfTI, download, tabulate', async () => {
    if (skip) return;
    const project = await group.addProject({ label: 'Reference' });
    await importAll('Reference');
    for (const gear of ['dcm2niix', 'nifti-qa']) await sprocket(key, ['gear', 'upload', path.join(ROOT, 'gears', gear)], tmp);

    const dcm2niix = await fw.lookup<Gear>('gears/dcm2niix');
    const convert = await dcm2niix.proposeBatch([project]);
    expect(convert.matched, 'one DICOM acquisition per subject').toHaveLength(series.length);
    expect(convert.ambiguous).toEqual([]);
    const convertJobs = await convert.run();
    const converted = await fw.waitForJobs(convertJobs, { pollMs: 200 });
    expect(
      converted.map((j) => j.state),
      engine.output(),
    ).toEqual(series.map(() => 'complete'));

    const niftiQa = await fw.lookup<Gear>('gears/nifti-qa');
    const measure = await niftiQa.proposeBatch([project]);
    expect(measure.matched, 'one NIfTI per converted acquisition').toHaveLength(series.length);
    const measured = await fw.waitForJobs(await measure.run(), { pollMs: 200 });
    expect(
      measured.map((j) => j.state),
      engine.output(),
    ).toEqual(series.map(() => 'complete'));

    // Reload, then download every QA output (and the NIfTI volumes, to compare with dcm2niix by hand).
    await project.reload();
    const results = path.join(tmp, 'results');
    const files = await everyFile(project);
    const qa = files.filter((f) => f.file.type === 'qa');
    expect(qa.map((f) => f.file.name.replace(/^.*_qa\./, '')).sort()).toEqual(series.flatMap(() => ['html', 'json']).sort());
    const downloaded = new Map<string, string>();
    for (const f of [...qa, ...files.filter((x) => x.file.type === 'nifti')]) {
      const dest = path.join(results, f.subject, f.file.name);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      downloaded.set(`${f.subject}/${f.file.name}`, await f.file.download(dest));
    }

    // Each NIfTI: the dimensions, voxel sizes and voxel data of dcm2niix run by hand.
    const made = files.filter((f) => f.file.type === 'nifti');
    expect(made.map((f) => f.subject).sort()).toEqual(series.map((x) => x.subject));
    const local = made.map((f) => downloaded.get(`${f.subject}/${f.file.name}`)!);
    const facts = await python<Record<string, Facts>>(NIFTI_FACTS, local);
    for (const [i, f] of made.entries()) {
      const x = series.find((y) => y.subject === f.subject)!;
      expect(facts[local[i]!]!.shape, `${x.what}: dims`).toEqual(x.dims);
      expect(facts[local[i]!], `${x.what}: NIfTI made by Sprocket vs dcm2niix by hand`).toEqual(byHand.get(f.subject)!.facts);
    }
    // Diffusion brings its gradient tables along.
    expect(files.filter((f) => f.subject === 'sub-02').map((f) => f.file.type)).toEqual(expect.arrayContaining(['bval', 'bvec']));

    // The QA table through the data view, written as CSV.
    const csv = await qaTable(project);
    const csvPath = path.join(results, 'qa.csv');
    fs.writeFileSync(csvPath, csv);
    const rows = parseCsv(fs.readFileSync(csvPath, 'utf8'));
    expect(Object.keys(rows[0] ?? {})).toEqual([
      'subject.label',
      'session.label',
      'acquisition.label',
      'file.name',
      ...METRICS,
      'EchoTime',
    ]);
    checkTable(rows);
    // The downloaded QA JSON files say the same as the table.
    for (const row of rows) {
      const json = JSON.parse(fs.readFileSync(downloaded.get(`${row['subject.label']}/${row['file.name']}`)!, 'utf8'));
      expect(String(json.snr)).toBe(row.snr);
      expect(json.image.dims.slice(0, 3)).toEqual(series.find((x) => x.subject === row['subject.label'])!.dims.slice(0, 3));
    }
    fs.writeFileSync(path.join(tmp, 'batch-table.csv'), csv);
  }, 300_000);

  it('rules: with dicom → dcm2niix and nifti → nifti-qa, importing the data is enough', async () => {
    if (skip) return;
    const project = await group.addProject({ label: 'Reference by rules' });
    const gearId = async (name: string) => (await fw.lookup<Gear>(`gears/${name}`)).id;
    await fw.addProjectRule(project.id, {
      gear_id: await gearId('dcm2niix'),
      name: 'dicom → dcm2niix',
      any: [{ type: 'file.type', value: 'dicom' }],
      all: [],
      not: [],
    });
    await fw.addProjectRule(project.id, {
      gear_id: await gearId('nifti-qa'),
      name: 'nifti → nifti-qa',
      any: [{ type: 'file.type', value: 'nifti' }],
      all: [],
      not: [],
    });

    await importAll('Reference by rules');

    // No script: wait until the QA files appear, as a person refreshing the page would.
    const deadline = Date.now() + 240_000;
    let rows: Record<string, string>[] = [];
    while (Date.now() < deadline) {
      rows = parseCsv(await qaTable(project)).filter((r) => r.snr !== '');
      if (rows.length >= series.length) break;
      const failed = (await fw.jobs.find()).filter((j) => j.state === 'failed');
      expect(
        failed.map((j) => j.id),
        engine.output(),
      ).toEqual([]);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(rows, engine.output()).toHaveLength(series.length);
    // Everything was launched by the rules (system origin), nothing by this test.
    const outputs = (await everyFile(project)).filter((f) => f.file.type === 'qa' || f.file.type === 'nifti');
    expect(outputs).toHaveLength(series.length * 3);
    for (const f of outputs) expect((await fw.getJob(f.file.origin.id)).origin.type, f.file.name).toBe('system');

    // The table as a user writes it: `sprocket view … -o qa.csv`.
    const csvPath = path.join(tmp, 'rules-qa.csv');
    const columns = [
      'subject.label',
      'acquisition.label',
      'file.name',
      ...METRICS.map((m) => `file.info.${m}=${m}`),
      'file.info.bids_meta.EchoTime=EchoTime',
    ];
    await sprocket(
      key,
      [
        'view',
        `${group.id}/Reference by rules`,
        ...columns.flatMap((c) => ['-c', c]),
        '--file-filter',
        '*_qa.json',
        '--no-ids',
        '-o',
        csvPath,
      ],
      tmp,
    );
    const viewed = parseCsv(fs.readFileSync(csvPath, 'utf8'));
    checkTable(viewed);
    // The same table as the batch run built, value for value.
    const batchTable = path.join(tmp, 'batch-table.csv');
    if (fs.existsSync(batchTable)) {
      const keyed = (r: Record<string, string>[]) =>
        Object.fromEntries(
          r.map((x) => [x['subject.label'], [x['acquisition.label'], x['file.name'], ...METRICS.map((m) => x[m]), x.EchoTime]]),
        );
      expect(keyed(viewed)).toEqual(keyed(parseCsv(fs.readFileSync(batchTable, 'utf8'))));
    }
  }, 300_000);
});
