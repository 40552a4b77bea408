import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildGears } from '../../../scripts/build-gears.js';
import { debFile, geBrainSeries, NIBABEL_DATA } from '../../../test-fixtures/fetch.js';
import { type GearRunResult, runGearJob } from '../../../test-fixtures/gear-run.js';

const here = dirname(fileURLToPath(import.meta.url));
const PYTHON = '/usr/bin/python3';
const pythonOk = spawnSync(PYTHON, ['-c', 'import numpy, nibabel, scipy'], { encoding: 'utf8' });
const hasReference = pythonOk.status === 0;
if (!hasReference)
  console.warn(`nifti-qa reference checks skipped: ${PYTHON} cannot import numpy, nibabel and scipy (npm run setup installs them)`);
const hasDcm2niix = spawnSync('dcm2niix', ['-h']).status === 0;
const hasBwrap = spawnSync('bwrap', ['--version']).status === 0;
const scratch = mkdtempSync(join(tmpdir(), 'nifti-qa-test-'));

type Json = any;

function reference(path: string): Json {
  const r = spawnSync(PYTHON, [join(here, 'reference_qa.py'), path], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`reference_qa.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Every metric the reference computed must match the gear's: counts exactly, the rest to 1e-6 relative. */
function expectSameMetrics(mine: Json, ref: Json, path = ''): void {
  for (const [k, want] of Object.entries(ref)) {
    const got = mine[k];
    const where = `${path}${k}`;
    if (want === null) expect(got, where).toBeNull();
    else if (Array.isArray(want)) {
      expect(Array.isArray(got), where).toBe(true);
      expect(got.length, where).toBe(want.length);
      want.forEach((w: Json, i: number) => {
        expectSameMetrics({ v: got[i] }, { v: w }, `${where}[${i}].`);
      });
    } else if (typeof want === 'object') expectSameMetrics(got, want, `${where}.`);
    else if (/_n$|_voxels$/.test(k)) expect(got, where).toBe(want);
    else {
      expect(typeof got, where).toBe('number');
      expect(Math.abs(got - (want as number)), `${where}: ${got} vs ${want}`).toBeLessThanOrEqual(
        1e-6 * Math.max(1, Math.abs(want as number)),
      );
    }
  }
}

async function qa(file: string, info: Record<string, unknown> = {}, sandbox: 'none' | 'bwrap' = 'none'): Promise<GearRunResult> {
  const r = await runGearJob({
    gear: 'nifti-qa',
    sandbox,
    inputs: { nifti: { file, object: { type: 'nifti', modality: 'MR', info } } },
  });
  expect(r.code, r.stderr).toBe(0);
  return r;
}

function qaInfo(r: GearRunResult): Json {
  const files = r.metadata.acquisition.files;
  return files.find((f: Json) => f.name.endsWith('_qa.json')).info;
}

describe('nifti-qa gear', () => {
  let ge: string;
  let geSidecar: Record<string, unknown>;
  let geRun: Promise<GearRunResult> | undefined;
  /** One gear run on the GE volume, shared by the tests that look at it. */
  const geQa = () => {
    geRun ??= qa(ge, geSidecar);
    return geRun;
  };
  beforeAll(async () => {
    await buildGears(['nifti-qa']);
    if (!hasDcm2niix) return;
    // The GE brain series as dcm2niix converts it by hand: the gear's real 3D input.
    const src = join(scratch, 'ge-dicom');
    mkdirSync(src);
    for (const f of geBrainSeries()) copyFileSync(f, join(src, f.split('/').pop()!));
    const out = join(scratch, 'ge-nifti');
    mkdirSync(out);
    const r = spawnSync('dcm2niix', ['-z', 'y', '-b', 'y', '-ba', 'n', '-f', 'FSE_PD_AXIAL_OBL_2', '-o', out, src], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stdout + r.stderr);
    ge = join(out, 'FSE_PD_AXIAL_OBL_2.nii.gz');
    geSidecar = JSON.parse(readFileSync(join(out, 'FSE_PD_AXIAL_OBL_2.json'), 'utf8'));
  });

  it.skipIf(!hasDcm2niix)('measures the GE brain volume dcm2niix made: outputs, metadata with bids_meta, HTML with a mosaic', async () => {
    const r = await geQa();
    expect(r.outputs).toEqual(['FSE_PD_AXIAL_OBL_2_qa.html', 'FSE_PD_AXIAL_OBL_2_qa.json']);
    const files = r.metadata.acquisition.files;
    expect(files.map((f: Json) => [f.name, f.type, f.modality])).toEqual([
      ['FSE_PD_AXIAL_OBL_2_qa.json', 'qa', 'MR'],
      ['FSE_PD_AXIAL_OBL_2_qa.html', 'qa', 'MR'],
    ]);
    const info = qaInfo(r);
    expect(info.bids_meta).toEqual(geSidecar);
    // The file's content and its metadata entry agree.
    expect(JSON.parse(readFileSync(join(r.dir, 'output', 'FSE_PD_AXIAL_OBL_2_qa.json'), 'utf8'))).toEqual(info);
    for (const k of ['efc', 'fber', 'snr', 'cjv', 'cnr', 'fwhm_x', 'fwhm_y', 'fwhm_z', 'fwhm_avg', 'summary_fg_mean', 'summary_bg_stdv']) {
      expect(typeof info[k], k).toBe('number');
    }
    expect(info.tsnr).toBeUndefined();
    expect(info.image).toMatchObject({ dims: [256, 256, 20], volumes: 1, datatype: 'int16' });
    // A real head: plenty of signal over the air, a sharp-ish image, the head about a third of the box.
    expect(info.snr).toBeGreaterThan(10);
    expect(info.efc).toBeGreaterThan(0.3);
    expect(info.efc).toBeLessThan(0.8);
    expect(info.mask_head_voxels / (256 * 256 * 20)).toBeGreaterThan(0.2);

    const html = readFileSync(join(r.dir, 'output', 'FSE_PD_AXIAL_OBL_2_qa.html'), 'utf8');
    const img = html.match(/<img[^>]+src="data:image\/png;base64,([A-Za-z0-9+/=]+)"/);
    expect(img).not.toBeNull();
    const png = Buffer.from(img![1]!, 'base64');
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const width = png.readUInt32BE(16);
    const height = png.readUInt32BE(20);
    expect([width, height]).toEqual([4 * 256, 3 * 256]);
    // The image data inflates to exactly one filter byte plus RGB per row.
    const idatLen = png.readUInt32BE(33);
    expect(png.toString('latin1', 37, 41)).toBe('IDAT');
    expect(inflateSync(png.subarray(41, 41 + idatLen)).length).toBe((width * 3 + 1) * height);
    expect(html).toContain('EchoTime');
  });

  it.skipIf(!hasDcm2niix || !hasReference)('GE brain metrics equal an independent numpy/nibabel/scipy computation', async () => {
    expectSameMetrics(qaInfo(await geQa()), reference(ge));
  });

  it.skipIf(!hasReference)(
    '4D series (nibabel example4d, 2 volumes; functional, 20 volumes): temporal metrics equal the reference too',
    async () => {
      for (const name of ['example4d.nii.gz', 'functional.nii']) {
        const path = join(NIBABEL_DATA, name);
        const r = await qa(path);
        const info = qaInfo(r);
        for (const k of ['tsnr', 'dvars_nstd', 'dvars_std', 'dvars_vstd', 'global_signal_mean', 'global_signal_std']) {
          expect(typeof info[k], `${name} ${k}`).toBe('number');
        }
        expect(info.image.spatial_metrics_on).toBe('temporal mean image');
        expect(info.timeseries.global_signal).toHaveLength(info.image.volumes);
        expect(info.timeseries.dvars_nstd).toHaveLength(info.image.volumes - 1);
        expectSameMetrics(info, reference(path));
        expect(readFileSync(join(r.dir, 'output', r.outputs.find((f) => f.endsWith('.html'))!), 'utf8')).toContain('<svg');
      }
    },
  );

  it.skipIf(!hasReference)('reads big-endian data with scl_slope/scl_inter and NIfTI-2 the way nibabel does', async () => {
    // nibabel's anatomical.nii is big-endian int16; give it a scaling to apply.
    const scaled = join(scratch, 'anatomical_scaled.nii');
    const buf = readFileSync(join(NIBABEL_DATA, 'anatomical.nii'));
    buf.writeFloatBE(2.5, 112);
    buf.writeFloatBE(-3, 116);
    writeFileSync(scaled, buf);
    const nifti2 = join(NIBABEL_DATA, 'example_nifti2.nii.gz');
    const versions: number[] = [];
    for (const path of [scaled, nifti2]) {
      const info = qaInfo(await qa(path));
      expectSameMetrics(info, reference(path));
      versions.push(info.image.nifti_version);
    }
    expect(versions).toEqual([1, 2]);
  });

  const ch2 = debFile('mricron-data', 'usr/share/mricron/templates/ch2.nii.gz');
  if (ch2.skip) console.warn(`ch2 T1 template test skipped: ${ch2.skip}`);
  it.skipIf(!hasReference || !ch2.path)('the mricron ch2 T1 head (181×217×181 uint8) matches the reference', async () => {
    const r = await qa(ch2.path!);
    const info = qaInfo(r);
    expect(info.image).toMatchObject({ dims: [181, 217, 181], datatype: 'uint8' });
    expectSameMetrics(info, reference(ch2.path!));
    // T1 contrast: the brightest class (WM) is well above the middle one (GM).
    expect(info.summary_wm_mean).toBeGreaterThan(info.summary_gm_mean * 1.2);
  });

  it('fails with the reason when the input is not NIfTI', async () => {
    const bogus = join(scratch, 'not-an-image.nii.gz');
    writeFileSync(bogus, Buffer.from('this is not an image'));
    const r = await runGearJob({ gear: 'nifti-qa', inputs: { nifti: { file: bogus, object: { type: 'nifti' } } } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('not-an-image.nii.gz is not a readable NIfTI image');
    expect(r.outputs).toEqual([]);
  });

  it.skipIf(!hasBwrap)('runs inside bubblewrap with the job mounted at /flywheel/v0', async () => {
    const path = join(NIBABEL_DATA, 'example4d.nii.gz');
    if (!existsSync(path)) return;
    const r = await qa(path, { EchoTime: 0.03 }, 'bwrap');
    expect(r.outputs).toEqual(['example4d_qa.html', 'example4d_qa.json']);
    expect(qaInfo(r).bids_meta).toEqual({ EchoTime: 0.03 });
    expect(readdirSync(join(r.dir, 'output'))).toContain('.metadata.json');
  });
});
