import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../e2e/processes.js';
import { batchRunGears } from '../../../examples/batch-run-gears.js';
import { newUid, syntheticSeries } from '../../../test-fixtures/synthetic-dicom.js';
import { zipFiles } from '../../../test-fixtures/zip.js';
import { type EngineProcess, engineKey, startEngine } from '../../engine/test/engines.js';
import { Client, type Project } from '../src/index.js';
import { adminKey, startTestServer, type TestServer, uniq } from './helpers.js';

/**
 * The reference tutorial (examples/batch-run-gears.ts) end to end: a real server, a real engine,
 * the dcm2niix and nifti-qa gears this repository ships, and a project of synthetic DICOM series
 * laid out as the tutorial's upload-data notebook makes it.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function packShippedGear(name: string): Buffer {
  const dir = path.join(ROOT, 'gears', name);
  if (!fs.existsSync(path.join(dir, 'dist', 'run.mjs')))
    execFileSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'build-gears.ts')], { cwd: ROOT, stdio: 'inherit' });
  const r = spawnSync('tar', ['-czf', '-', '--exclude=./test', '--exclude=./src', '-C', dir, '.'], { maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`tar of gear ${name} failed: ${r.stderr}`);
  return r.stdout;
}

let s: TestServer;
let engine: EngineProcess;
let tmp: string;
let fw: Client;
let project: Project;
const series: { subject: string; session: string; acquisition: string; file: string }[] = [];

beforeAll(async () => {
  const archives = ['dcm2niix', 'nifti-qa'].map((g) => ({ name: `${g}.tar.gz`, data: packShippedGear(g) }));
  s = await startTestServer();
  fw = new Client(adminKey(s));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sdk-tutorial-'));
  for (const a of archives) await fw.addGear(a);
  engine = startEngine(await engineKey(s.admin, 'tutorial engine'), { concurrency: 2 });

  // The upload-data notebook: a group, a project, subjects with a session each, DICOM acquisitions.
  const group = await fw.addGroup({ id: uniq('tutorial') });
  project = await group.addProject({ label: 'Tutorial' });
  for (const [si, subjectLabel] of ['sub-01', 'sub-02'].entries()) {
    const subject = await project.addSubject({ label: subjectLabel, type: 'human', sex: si ? 'female' : 'male' });
    const session = await subject.addSession({ label: 'ses-01' });
    const studyUid = newUid();
    for (const [ai, description] of ['T1w MPRAGE', 'FLAIR'].entries()) {
      const acq = await session.addAcquisition({ label: description });
      const dir = fs.mkdtempSync(path.join(tmp, 'series-'));
      const slices = syntheticSeries({
        patientId: subjectLabel,
        studyUid,
        seriesUid: newUid(),
        seriesNumber: ai + 1,
        seriesDescription: description,
        slices: 12,
        seed: si * 10 + ai,
      });
      const files = slices.map((b, i) => {
        const f = path.join(dir, `${String(i).padStart(4, '0')}.dcm`);
        fs.writeFileSync(f, b);
        return f;
      });
      const name = `${description.replace(/\W+/g, '_')}.dicom.zip`;
      await acq.uploadFile(await zipFiles(files, path.join(tmp, name)));
      series.push({ subject: subjectLabel, session: session.label, acquisition: acq.label, file: name });
    }
  }
});
afterAll(async () => {
  await engine?.stop();
  await s?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('examples/batch-run-gears.ts', () => {
  it('converts every DICOM series, runs QA on every NIfTI, downloads the QA outputs and tabulates the metrics', async () => {
    const lines: string[] = [];
    const results = path.join(tmp, 'results');
    const r = await batchRunGears({ apiKey: adminKey(s), projectLabel: 'Tutorial', results, pollMs: 100, log: (m) => lines.push(m) });

    expect(lines[0]).toBe(`You are now logged in as ${(await fw.getCurrentUser()).email} to ${s.url}`);
    expect(r.dcm2niixJobs).toHaveLength(series.length);
    expect(r.qaJobs.length).toBeGreaterThanOrEqual(series.length);
    const failed = Object.entries(r.jobStates).filter(([, st]) => st !== 'complete');
    expect(failed, `${failed.length} job(s) did not complete; engine output:\n${engine.output()}`).toEqual([]);

    // Each converted acquisition now holds the NIfTI from dcm2niix (its job as origin) and the QA outputs.
    for await (const session of project.sessions.iter()) {
      for await (const acq of session.acquisitions.iter()) {
        const types = acq.files.map((f) => f.type);
        expect(types).toContain('dicom');
        expect(types).toContain('nifti');
        expect(types.filter((t) => t === 'qa').length).toBeGreaterThanOrEqual(1);
        const nifti = acq.files.find((f) => f.type === 'nifti')!;
        expect(r.dcm2niixJobs).toContain(nifti.origin.id);
      }
    }

    // Downloads: every QA output, one folder per subject/session, hash-identical to the server's.
    const qaFiles = (await fw.acquisitions.find()).flatMap((a) => a.files.filter((f) => f.type === 'qa').map((f) => ({ f, a })));
    expect(qaFiles.length).toBeGreaterThanOrEqual(series.length);
    expect(r.downloaded).toHaveLength(qaFiles.length);
    for (const { f, a } of qaFiles) {
      const ses = await fw.getSession(a.session);
      const file = path.join(results, ses.subject.label, ses.label, f.name);
      expect(r.downloaded).toContain(file);
      const digest = createHash('sha384').update(fs.readFileSync(file)).digest('hex');
      expect(f.hash).toBe(`v0-sha384-${digest}`);
    }

    // The metrics table: a row per QA file with metrics, bids_meta fields flattened into columns.
    expect(r.rows).toHaveLength(series.length);
    const csv = fs.readFileSync(r.csvPath, 'utf8').trim().split('\n');
    expect(csv).toHaveLength(series.length + 1);
    const header = csv[0]!.split(',');
    expect(header.slice(0, 4)).toEqual(['subject', 'session', 'acquisition', 'file']);
    expect(r.rows.map((x) => `${x.subject}/${x.acquisition}`).sort()).toEqual(series.map((x) => `${x.subject}/${x.acquisition}`).sort());
    expect(header).not.toContain('bids_meta');
    expect(header).not.toContain('dataset');
    for (const row of r.rows) expect(Object.values(row).some((v) => typeof v === 'number')).toBe(true);

    // Run as a script (key from $FW_KEY): the second download pass finds the files already there.
    const example = path.join(ROOT, 'examples', 'batch-run-gears.ts');
    const script = await run(process.execPath, ['--import', 'tsx', example, '--project', 'Tutorial', '--results', results], {
      env: { ...process.env, FW_KEY: adminKey(s), HOME: tmp, XDG_CONFIG_HOME: '' },
    });
    expect(script.status, script.stderr).toBe(0);
    expect(script.stdout).toContain('File exists!');
    expect(script.stdout).toMatch(/Done: 4 conversion job\(s\), \d+ QA job\(s\)/);

    // Without a project the script says how to call it.
    const usage = await run(process.execPath, ['--import', 'tsx', example], { env: { ...process.env, HOME: tmp } });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/^usage: /);
  });
});
