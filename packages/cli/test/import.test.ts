import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUid, syntheticSeries } from '../../../test-fixtures/synthetic-dicom.js';
import { Cli, eventually, exited, startTestServer, type TestServer, tempDir } from './helpers.js';

const PYDICOM_MULTI_STUDY = '/usr/lib/python3/dist-packages/pydicom/data/test_files/dicomdirtests';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface WrittenSeries {
  patient: string;
  study: string;
  series: string;
  number: number;
  description: string;
  files: string[];
}

/** Writes synthetic series as loose .dcm files in a scanner-export-like folder layout. */
function writeStudies(
  dir: string,
  patients: string[],
  studiesPer: number,
  seriesPer: number,
  size: { rows: number; slices: number },
): WrittenSeries[] {
  const out: WrittenSeries[] = [];
  const names = ['T1w MPRAGE', 'T2w SPACE', 'FLAIR', 'PD axial', 'DWI', 'BOLD rest'];
  let k = 0;
  for (const patient of patients) {
    for (let st = 0; st < studiesPer; st++) {
      const study = newUid();
      for (let se = 0; se < seriesPer; se++) {
        const series = newUid();
        const number = se + 1;
        const description = names[se % names.length]!;
        const folder = path.join(dir, `export${k++}`, `S${number}`);
        fs.mkdirSync(folder, { recursive: true });
        const bufs = syntheticSeries({
          patientId: patient,
          studyUid: study,
          seriesUid: series,
          seriesNumber: number,
          seriesDescription: description,
          studyDate: `2024010${st + 1}`,
          rows: size.rows,
          columns: size.rows,
          slices: size.slices,
        });
        const files = bufs.map((b, i) => {
          const f = path.join(folder, `IM${String(i).padStart(4, '0')}.dcm`);
          fs.writeFileSync(f, b);
          return f;
        });
        out.push({ patient, study, series, number, description, files });
      }
    }
  }
  return out;
}

/** Member name → sha256 of a zip's content (python's zipfile: an independent reader). */
function zipMembers(zip: Buffer): Record<string, string> {
  const py =
    'import sys,zipfile,hashlib,json,io\nz=zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read()))\nprint(json.dumps({n:hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist()}))';
  return JSON.parse(execFileSync('python3', ['-c', py], { input: zip, maxBuffer: 64 << 20 }).toString());
}

describe('import dicom and import folder', () => {
  let s: TestServer;
  let cli: Cli;
  beforeAll(async () => {
    s = await startTestServer();
    await s.admin.post('/groups', { _id: 'lab', label: 'Lab' });
    cli = new Cli();
    await cli.login(s.admin.key!);
  });
  afterAll(async () => {
    await s?.stop();
  });

  async function acquisitionsOf(projectLabel: string) {
    const project = (await s.admin.post('/lookup', { path: ['lab', projectLabel] })).body;
    return (await s.admin.get(`/projects/${project._id}/acquisitions`)).body as any[];
  }

  it('sorts series by PatientID, StudyInstanceUID and SeriesInstanceUID, one zip per series; a rerun skips them', async () => {
    const dir = tempDir();
    const series = writeStudies(dir, ['P001', 'P002'], 2, 2, { rows: 16, slices: 3 });
    fs.writeFileSync(path.join(dir, 'README.txt'), 'not dicom');

    const plan = await cli.json(['import', 'dicom', dir, 'lab', 'synthetic', '--dry-run']);
    expect(plan).toHaveLength(8);
    expect(plan[0]).toMatchObject({
      subject: 'P001',
      session: { label: 'Synthetic study' },
      acquisition: { label: '1 - T1w MPRAGE' },
      file: '1 - T1w MPRAGE.dicom.zip',
      files: 3,
    });

    const out = await cli.ok(['import', 'dicom', dir, 'lab', 'synthetic']);
    expect(out).toContain('Found 24 DICOM files');
    expect(out).toContain('in 8 series, 4 sessions, 2 subjects; ignored 1 other files');
    expect(out).toContain('Created project lab/synthetic');
    expect(out).toContain('8 series uploaded, 0 already there (created 2 subjects, 4 sessions, 8 acquisitions)');

    const acqs = await acquisitionsOf('synthetic');
    expect(acqs).toHaveLength(8);
    for (const w of series) {
      const acq = acqs.find((a) => a.uid === w.series);
      expect(acq, w.series).toBeDefined();
      expect(acq.label).toBe(`${w.number} - ${w.description}`);
      expect(acq.files.map((f: any) => f.name)).toEqual([`${w.number} - ${w.description}.dicom.zip`]);
      const session = (await s.admin.get(`/sessions/${acq.parents.session}`)).body;
      expect(session.uid).toBe(w.study);
      expect((await s.admin.get(`/subjects/${acq.parents.subject}`)).body.label).toBe(w.patient);
    }
    const again = await cli.ok(['import', 'dicom', dir, 'lab', 'synthetic']);
    expect(again).toContain('0 series uploaded, 8 already there (created 0 subjects, 0 sessions, 0 acquisitions)');
    expect(await cli.fails(['import', 'dicom', path.join(dir, 'nope'), 'lab', 'x'])).toBe(`error: not a folder: ${path.join(dir, 'nope')}`);
    expect(await cli.fails(['import', 'dicom', dir, 'nogroup', 'x'])).toBe(
      'error: group "nogroup" does not exist; create it with: sprocket group add nogroup',
    );
  });

  it('an interrupted import resumes: every series once, each zip holding exactly its files', async () => {
    const dir = tempDir();
    const series = writeStudies(dir, ['R001', 'R002'], 1, 6, { rows: 96, slices: 12 });
    // One series at a time and throttled, so the kill lands with some series stored and some not.
    const child = cli.spawn(['import', 'dicom', dir, 'lab', 'resume', '--jobs', '1', '--limit-rate', '1M']);
    const some = await eventually(
      async () => {
        const project = (await s.admin.post('/lookup', { path: ['lab', 'resume'] })).body;
        if (!project?._id) return false;
        const acqs = (await s.admin.get(`/projects/${project._id}/acquisitions`)).body as any[];
        return acqs.filter((a) => a.files.length).length >= 3;
      },
      60_000,
      50,
    );
    child.kill('SIGKILL');
    await exited(child);
    expect(some).toBe(true);
    const before = (await acquisitionsOf('resume')).filter((a) => a.files.length).length;
    expect(before).toBeGreaterThanOrEqual(3);
    expect(before).toBeLessThan(12);

    const out = await cli.ok(['import', 'dicom', dir, 'lab', 'resume']);
    expect(out).toContain(`${12 - before} series uploaded, ${before} already there`);
    const acqs = await acquisitionsOf('resume');
    expect(acqs).toHaveLength(12);
    for (const w of series) {
      const acq = acqs.find((a) => a.uid === w.series);
      expect(acq.files).toHaveLength(1);
      expect(acq.files[0].version).toBe(1);
      const zip = await s.admin.bytes(`/acquisitions/${acq._id}/files/${encodeURIComponent(acq.files[0].name)}`);
      const members = zipMembers(zip.data);
      expect(Object.values(members).sort()).toEqual(w.files.map((f) => sha256(fs.readFileSync(f))).sort());
    }
  });

  it("sorts pydicom's real multi-study folder: 3 patients, 7 studies, 14 series", async () => {
    const out = await cli.ok(['import', 'dicom', PYDICOM_MULTI_STUDY, 'lab', 'pydicom']);
    expect(out).toContain('Found 81 DICOM files');
    expect(out).toContain('14 series uploaded, 0 already there (created 3 subjects, 7 sessions, 14 acquisitions)');
    const ls = async (p: string) => (await cli.json(['ls', p])).children.map((c: any) => c.label).sort();
    expect(await ls('lab/pydicom')).toEqual(['12345678', '77654033', '98890234']);
    expect(await ls('lab/pydicom/98890234')).toEqual(['2001-01-01', 'Brain', 'Brain-MRA', 'Carotids']);
    expect(await ls('lab/pydicom/77654033')).toEqual(['CT, HEAD_BRAIN WO CONTRAST', 'XR C Spine Comp Min 4 Views']);
    expect(await ls('lab/pydicom/98890234/Brain-MRA')).toEqual([
      '1 - FAST LOCALIZER',
      '2 - T_S_C RF FAST PILOT',
      '700 - ANGIO Projected from C',
    ]);
    expect(await ls('lab/pydicom/77654033/XR C Spine Comp Min 4 Views')).toEqual([
      '1 - Cervical LAT',
      '2 - Cervical OBLI 1',
      '3 - Cervical OBLI 2',
    ]);
    const angio = await cli.json(['ls', 'lab/pydicom/98890234/Brain-MRA/700 - ANGIO Projected from C']);
    expect(angio.children.map((f: any) => f.name)).toEqual(['700 - ANGIO Projected from C.dicom.zip']);
  });

  it('import folder: levels from the folder tree, deeper folders as zips, reruns skip what is there', async () => {
    const dir = tempDir();
    const w = (rel: string, content: string) => {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), content);
    };
    w('protocol.txt', 'project file');
    w('sub-01/consent.txt', 'subject file');
    w('sub-01/ses-01/notes.txt', 'session file');
    w('sub-01/ses-01/anat/T1w.nii.gz', 'nifti bytes');
    w('sub-01/ses-01/anat/dicom/a.dcm', 'a');
    w('sub-01/ses-01/anat/dicom/sub/b.dcm', 'b');
    w('sub-02/ses-01/func/bold.nii.gz', 'bold');
    const plan = await cli.json(['import', 'folder', dir, 'lab', 'folders', '--dry-run']);
    expect(plan.map((p: any) => `${p.level}:${p.container}/${p.name}`).sort()).toEqual([
      'acquisition:folders/sub-01/ses-01/anat/T1w.nii.gz',
      'acquisition:folders/sub-01/ses-01/anat/dicom.zip',
      'acquisition:folders/sub-02/ses-01/func/bold.nii.gz',
      'project:folders/protocol.txt',
      'session:folders/sub-01/ses-01/notes.txt',
      'subject:folders/sub-01/consent.txt',
    ]);
    expect(await cli.ok(['import', 'folder', dir, 'lab', 'folders'])).toContain(
      '6 files uploaded, 0 already there (created 2 subjects, 2 sessions, 2 acquisitions)',
    );
    const zip = await s.admin.bytes(
      `/acquisitions/${(await s.admin.post('/lookup', { path: ['lab', 'folders', 'sub-01', 'ses-01', 'anat'] })).body._id}/files/dicom.zip`,
    );
    expect(Object.keys(zipMembers(zip.data)).sort()).toEqual(['a.dcm', 'sub/b.dcm']);
    w('sub-01/ses-01/notes.txt', 'session file, edited');
    expect(await cli.ok(['import', 'folder', dir, 'lab', 'folders'])).toContain(
      '1 files uploaded, 5 already there (created 0 subjects, 0 sessions, 0 acquisitions)',
    );
  });
});
