import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildGears } from '../../../scripts/build-gears.js';
import { daikonData, debFile, geBrainSeries } from '../../../test-fixtures/fetch.js';
import { runGearJob } from '../../../test-fixtures/gear-run.js';
import { zipFiles } from '../../../test-fixtures/zip.js';
import { readNifti } from '../../lib/src/nifti.js';

const hasDcm2niix = spawnSync('dcm2niix', ['-h']).status === 0;
const hasBwrap = spawnSync('bwrap', ['--version']).status === 0;
const hasGdcm = spawnSync('gdcmconv', ['--version']).status === 0;
const scratch = mkdtempSync(join(tmpdir(), 'dcm2niix-test-'));

/** dcm2niix run by hand on a folder of the same files: the reference the gear must agree with. */
function byHand(files: string[], flags: string[]): string {
  const dir = mkdtempSync(join(scratch, 'hand-'));
  const src = join(dir, 'in');
  const out = join(dir, 'out');
  mkdirSync(src);
  mkdirSync(out);
  for (const f of files) copyFileSync(f, join(src, f.split('/').pop()!));
  const r = spawnSync('dcm2niix', [...flags, '-o', out, src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dcm2niix by hand failed: ${r.stdout}${r.stderr}`);
  return out;
}

function only(dir: string, re: RegExp): string {
  const hits = readdirSync(dir).filter((f) => re.test(f));
  if (hits.length !== 1) throw new Error(`expected one ${re} in ${dir}, found ${hits.join(', ') || 'none'}`);
  return join(dir, hits[0]!);
}

const dwiSeries = debFile('heudiconv', 'usr/lib/python3/dist-packages/heudiconv/tests/data/b0dwiForFmap/b0dwi_for_fmap+00001.dcm');
const dwiFiles = dwiSeries.path ? [1, 2, 3].map((n) => dwiSeries.path!.replace('+00001', `+0000${n}`)) : [];
if (dwiSeries.skip) console.warn(`heudiconv DWI tests skipped: ${dwiSeries.skip}`);

describe.skipIf(!hasDcm2niix)('dcm2niix gear on real series', () => {
  let geZip: string;
  beforeAll(async () => {
    await buildGears(['dcm2niix']);
    // Flywheel's archives hold the series in a sub-folder; the gear flattens it.
    geZip = await zipFiles(geBrainSeries(), join(scratch, 'ge.dicom.zip'), { folder: 'FSE PD AXIAL OBL.dicom' });
  });

  it('converts the GE 20-slice brain .dicom.zip to the volume dcm2niix gives by hand, sidecar fields as info', async () => {
    const input = { type: 'dicom', modality: 'MR', classification: { Intent: ['Structural'], Measurement: ['PD'] } };
    const r = await runGearJob({
      gear: 'dcm2niix',
      inputs: { dcm2niix_input: { file: geZip, name: '2 - FSE PD AXIAL OBL.dicom.zip', object: input } },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // bids_sidecar defaults to 'n': only the image is kept, named after the input (%f).
    expect(r.outputs).toEqual(['2_-_FSE_PD_AXIAL_OBL.nii.gz']);

    const hand = byHand(geBrainSeries(), ['-z', 'y', '-b', 'y', '-ba', 'n', '-f', '%p_%s']);
    const mine = readNifti(join(r.dir, 'output', r.outputs[0]!));
    const ref = readNifti(only(hand, /\.nii\.gz$/));
    expect(mine.header.dims).toEqual([256, 256, 20]);
    expect(mine.header.dims).toEqual(ref.header.dims);
    expect(mine.voxel).toEqual(ref.voxel);
    expect(Buffer.from(mine.data.buffer).equals(Buffer.from(ref.data.buffer))).toBe(true);

    const sidecar = JSON.parse(readFileSync(only(hand, /\.json$/), 'utf8'));
    expect(r.metadata).toEqual({
      acquisition: {
        files: [
          {
            name: '2_-_FSE_PD_AXIAL_OBL.nii.gz',
            type: 'nifti',
            modality: 'MR',
            classification: input.classification,
            info: sidecar,
          },
        ],
      },
    });
    expect(r.metadata.acquisition.files[0].info).toMatchObject({ Manufacturer: 'GE', EchoTime: 0.022, RepetitionTime: 2.3 });
  });

  it.skipIf(!dwiSeries.path)('converts the heudiconv b0/DWI mosaics to 150x152x81x3 with bval/bvec and keeps the sidecar', async () => {
    const zip = await zipFiles(dwiFiles, join(scratch, 'dwi.dicom.zip'), { zip64: true });
    const r = await runGearJob({
      gear: 'dcm2niix',
      inputs: { dcm2niix_input: { file: zip, name: 'dMRI_AP.dicom.zip', object: { type: 'dicom', modality: 'MR' } } },
      config: { bids_sidecar: 'y' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.outputs).toEqual(['dMRI_AP.bval', 'dMRI_AP.bvec', 'dMRI_AP.json', 'dMRI_AP.nii.gz']);
    const hand = byHand(dwiFiles, ['-z', 'y', '-b', 'y', '-f', '%p_%s']);
    const mine = readNifti(join(r.dir, 'output', 'dMRI_AP.nii.gz'));
    expect(mine.header.dims).toEqual([150, 152, 81, 3]);
    expect(mine.header.dims).toEqual(readNifti(only(hand, /\.nii\.gz$/)).header.dims);
    expect(readFileSync(join(r.dir, 'output', 'dMRI_AP.bval'), 'utf8')).toBe(readFileSync(only(hand, /\.bval$/), 'utf8'));
    expect(readFileSync(join(r.dir, 'output', 'dMRI_AP.bvec'), 'utf8')).toBe(readFileSync(only(hand, /\.bvec$/), 'utf8'));

    const byName = Object.fromEntries(r.metadata.acquisition.files.map((f: { name: string }) => [f.name, f]));
    expect(Object.keys(byName).sort()).toEqual(r.outputs);
    expect(byName['dMRI_AP.nii.gz'].type).toBe('nifti');
    expect(byName['dMRI_AP.bval'].type).toBe('bval');
    expect(byName['dMRI_AP.bvec'].type).toBe('bvec');
    expect(byName['dMRI_AP.json'].type).toBe('source code');
    for (const f of r.metadata.acquisition.files) {
      expect(f.modality).toBe('MR');
      expect(f.info).toMatchObject({ Manufacturer: 'Siemens', SeriesNumber: 28 });
    }
  });

  it.skipIf(!dwiSeries.path)('coil_combine keeps only the last volume; vol3D writes one 3D file per volume', async () => {
    const zip = await zipFiles(dwiFiles, join(scratch, 'dwi2.dicom.zip'));
    const combined = await runGearJob({
      gear: 'dcm2niix',
      inputs: { dcm2niix_input: { file: zip, object: { type: 'dicom' } } },
      config: { coil_combine: true },
    });
    expect(combined.code, combined.stderr).toBe(0);
    const all = readNifti(only(byHand(dwiFiles, ['-z', 'y', '-f', '%p_%s']), /\.nii\.gz$/));
    const last = readNifti(join(combined.dir, 'output', 'dwi2.nii.gz'));
    expect(last.header.dims).toEqual([150, 152, 81]);
    const vol = 150 * 152 * 81;
    expect(Array.from(last.data)).toEqual(Array.from(all.data.subarray(2 * vol)));

    const split = await runGearJob({
      gear: 'dcm2niix',
      inputs: { dcm2niix_input: { file: zip, object: { type: 'dicom' } } },
      config: { vol3D: true },
    });
    expect(split.code, split.stderr).toBe(0);
    const niftis = split.outputs.filter((f) => f.endsWith('.nii'));
    expect(niftis).toHaveLength(3);
    for (const f of niftis) expect(readNifti(join(split.dir, 'output', f)).header.dims).toEqual([150, 152, 81]);
    // The 3D volumes are named <stem>_1.nii …; each still gets its series' sidecar as info.
    for (const f of split.metadata.acquisition.files) expect(f.info?.SeriesNumber).toBe(28);
  });

  it('fails an unconvertible series (JPEG-LS) with dcm2niix’s own reason on stderr and no outputs', async () => {
    const r = await runGearJob({
      gear: 'dcm2niix',
      inputs: { dcm2niix_input: { file: join(daikonData(), 'jpeg_ls.dcm'), object: { type: 'dicom' } } },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('exit status 2');
    expect(r.stderr).toContain("Unsupported transfer syntax '1.2.840.10008.1.2.4.81'");
    expect(r.stderr).toContain('No valid DICOM images were found');
    expect(r.outputs).toEqual([]);
  });

  it.skipIf(!hasGdcm)('decompress_dicoms lets the same JPEG-LS file convert', async () => {
    const r = await runGearJob({
      gear: 'dcm2niix',
      inputs: { dcm2niix_input: { file: join(daikonData(), 'jpeg_ls.dcm'), object: { type: 'dicom' } } },
      config: { decompress_dicoms: true, bids_sidecar: 'y' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.outputs).toEqual(['jpeg_ls.json', 'jpeg_ls.nii.gz']);
    expect(readNifti(join(r.dir, 'output', 'jpeg_ls.nii.gz')).header.dims.slice(0, 2)).toEqual([1024, 1024]);
  });

  it('rejects a config value dcm2niix would misread, naming the key', async () => {
    const r = await runGearJob({
      gear: 'dcm2niix',
      inputs: { dcm2niix_input: { file: geZip, object: { type: 'dicom' } } },
      config: { compress_nifti: 'maybe' },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('config compress_nifti = "maybe": expected one of y, i, n, 3, o');
    expect(r.outputs).toEqual([]);
  });

  it('remove_incomplete_volumes drops the trailing files of an aborted second volume', async () => {
    // Volume 2 stopped after 5 of 20 slices: copies of the first five slices with new instance numbers and UIDs.
    const dir = mkdtempSync(join(scratch, 'aborted-'));
    const files = geBrainSeries().map((f) => {
      const to = join(dir, f.split('/').pop()!);
      copyFileSync(f, to);
      return to;
    });
    for (const [k, f] of geBrainSeries().slice(1, 6).entries()) files.push(patchedCopy(f, join(dir, `vol2_${k}.dcm`), 21 + k));
    const zip = await zipFiles(files, join(scratch, 'aborted.dicom.zip'));
    const r = await runGearJob({
      gear: 'dcm2niix',
      inputs: { dcm2niix_input: { file: zip, object: { type: 'dicom' } } },
      config: { remove_incomplete_volumes: true },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('20 slice positions and 1 complete volume(s); removed 5 trailing file(s)');
    expect(readNifti(join(r.dir, 'output', 'aborted.nii.gz')).header.dims).toEqual([256, 256, 20]);
  });

  it.skipIf(!hasBwrap)('runs inside bubblewrap with the job mounted at /flywheel/v0 and only /usr and /etc from the host', async () => {
    const r = await runGearJob({
      gear: 'dcm2niix',
      sandbox: 'bwrap',
      inputs: { dcm2niix_input: { file: geZip, object: { type: 'dicom', modality: 'MR' } } },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('/flywheel/v0/work/');
    expect(r.outputs).toEqual(['ge.nii.gz']);
    expect(readNifti(join(r.dir, 'output', 'ge.nii.gz')).header.dims).toEqual([256, 256, 20]);
    expect(existsSync(join(r.dir, 'output', '.metadata.json'))).toBe(true);
  });
});

/**
 * A copy of a GE slice posing as the same slice of a later volume: new InstanceNumber and a
 * different SOPInstanceUID (same lengths, so the file stays valid), found by their explicit-VR tags.
 */
function patchedCopy(from: string, to: string, instance: number): string {
  const buf = readFileSync(from);
  const at = (tag: number[]) => {
    const i = buf.indexOf(Buffer.from(tag));
    if (i < 0) throw new Error(`tag ${tag} not in ${from}`);
    return i;
  };
  const inst = at([0x20, 0x00, 0x13, 0x00, 0x49, 0x53]);
  const instLen = buf.readUInt16LE(inst + 6);
  buf.write(String(instance).padEnd(instLen, ' '), inst + 8, instLen, 'latin1');
  const sop = at([0x08, 0x00, 0x18, 0x00, 0x55, 0x49]);
  const sopLen = buf.readUInt16LE(sop + 6);
  const uid = buf.toString('latin1', sop + 8, sop + 8 + sopLen).replace(/\0+$/, '');
  buf.write(`${uid.slice(0, -2)}99`, sop + 8, uid.length, 'latin1');
  writeFileSync(to, buf);
  return to;
}
