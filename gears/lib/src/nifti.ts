import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { isNIFTI1, isNIFTI2, NIFTI1, type NIFTI2, readHeader } from 'nifti-reader-js';

/**
 * NIfTI-1 and NIfTI-2 single-file images (.nii, .nii.gz), either byte order: the header through
 * nifti-reader-js (bundled into the gears by scripts/build-gears.ts), the voxels as float64 with
 * scl_slope/scl_inter applied, which the library leaves to its callers (it hands back raw bytes).
 * Gzip is undone with node:zlib rather than the library's pure-JS inflate (fflate): bench/parsers.ts
 * measures both, and the library's own path took 2-3 times as long on dcm2niix's outputs.
 */
export interface NiftiHeader {
  version: 1 | 2;
  littleEndian: boolean;
  /** dim[1..dim[0]] */
  dims: number[];
  /** pixdim[1..dim[0]] */
  pixdim: number[];
  datatype: number;
  bitpix: number;
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  xyztUnits: number;
  qformCode: number;
  sformCode: number;
  /** Voxel to world, 4x4, as the library derives it (sform or qform, whichever the header prefers). */
  affine: number[][];
  descrip: string;
  /** Where dim[0] sits in the header, for rewriting dimensions in place. */
  headerSize: number;
}

export class NiftiError extends Error {}

export const DATATYPES: Record<number, { name: string; bytes: number }> = {
  2: { name: 'uint8', bytes: 1 },
  4: { name: 'int16', bytes: 2 },
  8: { name: 'int32', bytes: 4 },
  16: { name: 'float32', bytes: 4 },
  64: { name: 'float64', bytes: 8 },
  256: { name: 'int8', bytes: 1 },
  512: { name: 'uint16', bytes: 2 },
  768: { name: 'uint32', bytes: 4 },
  1024: { name: 'int64', bytes: 8 },
  1280: { name: 'uint64', bytes: 8 },
};

/** The whole file, gunzipped when it is gzip (by magic bytes, not by name). */
export function readNiftiBytes(path: string): Buffer {
  const raw = readFileSync(path);
  return raw.length > 2 && raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
}

export function parseHeader(buf: Buffer): NiftiHeader {
  if (buf.length < 348) throw new NiftiError(`file too short for a NIfTI header (${buf.length} bytes)`);
  const sizeofHdr = buf.readInt32LE(0) === 540 || buf.readInt32BE(0) === 540 ? 540 : 348;
  if (sizeofHdr === 540 && buf.length < 540) throw new NiftiError('file too short for a NIfTI-2 header');
  // The fixed header alone, copied out of the (possibly pooled) Buffer: the library reads
  // extensions when given more, and the gears have no use for them.
  const head = buf.buffer.slice(buf.byteOffset, buf.byteOffset + sizeofHdr) as ArrayBuffer;
  if (!isNIFTI1(head) && !isNIFTI2(head)) {
    if (isNIFTI1(head, true) || isNIFTI2(head, true))
      throw new NiftiError('two-file NIfTI (.hdr/.img) is not supported; use a single .nii/.nii.gz');
    throw new NiftiError('not a NIfTI file (no n+1 or n+2 magic where sizeof_hdr 348 or 540 puts it)');
  }
  let h: NIFTI1 | NIFTI2;
  try {
    h = readHeader(head);
  } catch (err) {
    throw new NiftiError(`not a NIfTI file (${(err as Error).message})`);
  }
  const ndim = h.dims[0]!;
  if (ndim < 1 || ndim > 7) throw new NiftiError(`dim[0] = ${ndim} is out of range 1..7`);
  return {
    version: h instanceof NIFTI1 ? 1 : 2,
    littleEndian: h.littleEndian,
    dims: h.dims.slice(1, 1 + ndim),
    pixdim: h.pixDims.slice(1, 1 + ndim),
    datatype: h.datatypeCode,
    bitpix: h.numBitsPerVoxel,
    voxOffset: h.vox_offset,
    sclSlope: h.scl_slope,
    sclInter: h.scl_inter,
    xyztUnits: h.xyzt_units,
    qformCode: h.qform_code,
    sformCode: h.sform_code,
    affine: h.affine,
    descrip: h.description.trim(),
    headerSize: sizeofHdr,
  };
}

export interface NiftiImage {
  header: NiftiHeader;
  nx: number;
  ny: number;
  nz: number;
  /** Volumes: the product of dim[4..]. */
  nt: number;
  /** Voxel sizes along x, y, z (mm when xyzt_units says so). */
  voxel: [number, number, number];
  /**
   * x fastest, then y, z, volume. float32 when that holds every value exactly (unscaled 8- and
   * 16-bit integers: half the memory of a long 4D series), float64 otherwise.
   */
  data: Float32Array | Float64Array;
}

export function decodeNifti(buf: Buffer): NiftiImage {
  const header = parseHeader(buf);
  const type = DATATYPES[header.datatype];
  if (!type) throw new NiftiError(`NIfTI datatype ${header.datatype} is not supported (complex and RGB images are not)`);
  const d = header.dims;
  const dim = (k: number) => (k < d.length ? Math.max(1, d[k]!) : 1);
  const nx = dim(0);
  const ny = dim(1);
  const nz = dim(2);
  let nt = 1;
  for (let k = 3; k < d.length; k++) nt *= dim(k);
  const n = nx * ny * nz * nt;
  const start = Math.max(header.voxOffset, header.headerSize);
  if (!Number.isInteger(start)) throw new NiftiError(`vox_offset ${header.voxOffset} is not a whole number of bytes`);
  if (buf.length < start + n * type.bytes) {
    throw new NiftiError(`truncated image: need ${start + n * type.bytes} bytes, file has ${buf.length}`);
  }
  const v = new DataView(buf.buffer, buf.byteOffset + start, n * type.bytes);
  const le = header.littleEndian;
  const slope = header.sclSlope;
  const scaled = slope !== 0 && Number.isFinite(slope) && (slope !== 1 || (Number.isFinite(header.sclInter) && header.sclInter !== 0));
  const exactIn32 = !scaled && [2, 4, 256, 512].includes(header.datatype);
  const out = exactIn32 ? new Float32Array(n) : new Float64Array(n);
  const read: (o: number) => number = {
    2: (o: number) => v.getUint8(o),
    4: (o: number) => v.getInt16(o, le),
    8: (o: number) => v.getInt32(o, le),
    16: (o: number) => v.getFloat32(o, le),
    64: (o: number) => v.getFloat64(o, le),
    256: (o: number) => v.getInt8(o),
    512: (o: number) => v.getUint16(o, le),
    768: (o: number) => v.getUint32(o, le),
    1024: (o: number) => Number(v.getBigInt64(o, le)),
    1280: (o: number) => Number(v.getBigUint64(o, le)),
  }[header.datatype]!;
  for (let i = 0, o = 0; i < n; i++, o += type.bytes) out[i] = read(o);
  // The standard: slope 0 (or not a number) means the stored values are the values.
  if (scaled) {
    const inter = Number.isFinite(header.sclInter) ? header.sclInter : 0;
    for (let i = 0; i < n; i++) out[i] = out[i]! * slope + inter;
  }
  const pd = (k: number) => (k < header.pixdim.length && header.pixdim[k]! > 0 ? header.pixdim[k]! : 1);
  return { header, nx, ny, nz, nt, voxel: [pd(0), pd(1), pd(2)], data: out };
}

export function readNifti(path: string): NiftiImage {
  return decodeNifti(readNiftiBytes(path));
}

/**
 * The same image holding only its last volume (dims 4..7 set to 1, dim[0] = 3), header extensions
 * kept. Returns null for images that already have a single volume.
 */
export function keepLastVolume(buf: Buffer): Buffer | null {
  const img = parseHeader(buf);
  const type = DATATYPES[img.datatype];
  if (!type) throw new NiftiError(`NIfTI datatype ${img.datatype} is not supported`);
  const d = img.dims;
  let nt = 1;
  for (let k = 3; k < d.length; k++) nt *= Math.max(1, d[k]!);
  if (nt <= 1) return null;
  const volBytes = Math.max(1, d[0]!) * Math.max(1, d[1] ?? 1) * Math.max(1, d[2] ?? 1) * type.bytes;
  const start = Math.max(img.voxOffset, img.headerSize);
  const out = Buffer.concat([buf.subarray(0, start), buf.subarray(start + (nt - 1) * volBytes, start + nt * volBytes)]);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (img.version === 1) {
    v.setInt16(40, 3, img.littleEndian);
    for (let k = 4; k <= 7; k++) v.setInt16(40 + 2 * k, 1, img.littleEndian);
  } else {
    v.setBigInt64(16, 3n, img.littleEndian);
    for (let k = 4; k <= 7; k++) v.setBigInt64(16 + 8 * k, 1n, img.littleEndian);
  }
  return out;
}
