import type { DataSet } from 'dicom-parser';

/** Transfer syntaxes whose pixel data is stored raw: the preview reads them without a codec. */
const RAW = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2']);

export interface Slice {
  width: number;
  height: number;
  /** Grey values after the rescale (Hounsfield units for CT). */
  values: Float32Array;
  /** The window the scanner suggested, else the full range of this slice. */
  center: number;
  width_: number;
}

const num = (ds: DataSet, tag: string, fallback: number) => {
  const v = Number.parseFloat(ds.string(tag) ?? '');
  return Number.isFinite(v) ? v : fallback;
};

/** One single-frame greyscale slice from a parsed data set; a reason in words when it is not one. */
export function sliceOf(ds: DataSet): Slice | string {
  const syntax = (ds.string('x00020010') ?? '1.2.840.10008.1.2').replace(/\0/g, '').trim();
  if (!RAW.has(syntax)) return `pixel data is compressed (transfer syntax ${syntax}); download the series to view it`;
  const photometric = (ds.string('x00280004') ?? 'MONOCHROME2').trim();
  if (!photometric.startsWith('MONOCHROME')) return `${photometric} images are not previewed; download the series to view it`;
  const el = ds.elements.x7fe00010;
  if (!el) return 'the file holds no pixel data';
  const rows = ds.uint16('x00280010') ?? 0;
  const cols = ds.uint16('x00280011') ?? 0;
  const bits = ds.uint16('x00280100') ?? 16;
  const signed = ds.uint16('x00280103') === 1;
  const n = rows * cols;
  if (!n || el.length < (n * bits) / 8) return 'the pixel data is shorter than the image it describes';
  const bytes = ds.byteArray;
  const view = new DataView(bytes.buffer, bytes.byteOffset + el.dataOffset, el.length);
  const big = syntax === '1.2.840.10008.1.2.2';
  const slope = num(ds, 'x00281053', 1);
  const intercept = num(ds, 'x00281052', 0);
  const values = new Float32Array(n);
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const raw =
      bits === 8 ? (signed ? view.getInt8(i) : view.getUint8(i)) : signed ? view.getInt16(i * 2, !big) : view.getUint16(i * 2, !big);
    const v = raw * slope + intercept;
    values[i] = v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (photometric === 'MONOCHROME1') for (let i = 0; i < n; i++) values[i] = max + min - values[i]!;
  // Scanners write 0 / 0 for "no suggestion" as often as they leave the tags out.
  const suggested = num(ds, 'x00281051', 0);
  const full = { center: (min + max) / 2, width: Math.max(1, max - min) };
  const center = suggested > 0 ? num(ds, 'x00281050', full.center) : full.center;
  return { width: cols, height: rows, values, center, width_: suggested > 0 ? suggested : full.width };
}

/** The slice through a window as 8-bit grey RGBA, ready for a 2-D canvas. */
export function toRgba(s: Slice, center: number, width: number): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(new ArrayBuffer(s.values.length * 4));
  const lo = center - width / 2;
  const scale = 255 / Math.max(width, 1e-6);
  for (let i = 0; i < s.values.length; i++) {
    const g = (s.values[i]! - lo) * scale;
    out[i * 4] = out[i * 4 + 1] = out[i * 4 + 2] = g;
    out[i * 4 + 3] = 255;
  }
  return out;
}
