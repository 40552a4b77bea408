import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeNifti, keepLastVolume, NiftiError, readNifti } from '../src/nifti.js';

const here = dirname(fileURLToPath(import.meta.url));
const hasNibabel = spawnSync('/usr/bin/python3', ['-c', 'import nibabel, numpy']).status === 0;
if (!hasNibabel)
  console.warn('NIfTI reader checks against nibabel skipped: /usr/bin/python3 cannot import nibabel (npm run setup installs it)');

interface Sample {
  path: string;
  dims: number[];
  zooms: number[];
  big_endian: boolean;
  values: number[];
}

describe.skipIf(!hasNibabel)('NIfTI reader against nibabel', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nifti-samples-'));
  const samples: Sample[] = hasNibabel
    ? JSON.parse(spawnSync('/usr/bin/python3', [join(here, 'nifti_samples.py'), dir], { encoding: 'utf8', maxBuffer: 16 << 20 }).stdout)
    : [];

  it('decodes every datatype, both byte orders, NIfTI-1 and NIfTI-2, with scl_slope/scl_inter, to nibabel’s values', () => {
    expect(samples.length).toBeGreaterThanOrEqual(30);
    for (const s of samples) {
      const img = readNifti(s.path);
      expect(img.header.dims, s.path).toEqual(s.dims);
      expect(img.header.littleEndian, s.path).toBe(!s.big_endian);
      expect(img.voxel, s.path).toEqual(s.zooms);
      expect(Array.from(img.data), s.path).toEqual(s.values);
    }
    expect(samples.some((s) => s.big_endian)).toBe(true);
    expect(samples.some((s) => s.path.includes('/v2_'))).toBe(true);
  });

  it('reads .nii.gz by its magic bytes and refuses truncated images', () => {
    const s = samples.find((x) => x.path.endsWith('v1_i4_le.nii'))!;
    const gz = join(dir, 'gz-named-plain.nii');
    writeFileSync(gz, gzipSync(readFileSync(s.path)));
    expect(Array.from(readNifti(gz).data)).toEqual(s.values);
    const whole = readFileSync(s.path);
    expect(() => decodeNifti(whole.subarray(0, whole.length - 4))).toThrow(NiftiError);
    expect(() => decodeNifti(Buffer.alloc(400))).toThrow(/not a NIfTI file/);
  });

  it('keepLastVolume leaves a 3D image holding the last volume', () => {
    for (const s of samples.filter((x) => /v[12]_f4_le\.nii$/.test(x.path))) {
      const last = decodeNifti(keepLastVolume(readFileSync(s.path))!);
      expect(last.header.dims).toEqual(s.dims.slice(0, 3));
      expect(Array.from(last.data)).toEqual(s.values.slice(s.values.length / 2));
    }
  });
});
