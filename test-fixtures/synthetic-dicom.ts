import { randomBytes } from 'node:crypto';

/**
 * Valid synthetic MR DICOM series (Part 10, explicit VR little endian, 16-bit MONOCHROME2) with
 * consistent geometry, so dcm2niix converts them into real volumes. Used to fill projects of any
 * size for scale runs and tests; the pixel data is a smooth phantom (a bright ellipsoid with two
 * "tissue" intensities in a dark background) so QA metrics are meaningful.
 */
export interface SeriesSpec {
  patientId: string;
  studyUid: string;
  seriesUid: string;
  seriesNumber: number;
  seriesDescription: string;
  /** e.g. 'T1w MPRAGE', used as ProtocolName */
  protocolName?: string;
  studyDate?: string; // YYYYMMDD
  studyTime?: string; // HHMMSS
  rows?: number;
  columns?: number;
  slices?: number;
  pixelSpacing?: [number, number];
  sliceThickness?: number;
  echoTime?: number; // ms
  repetitionTime?: number; // ms
  inversionTime?: number; // ms
  seed?: number;
}

/** A DICOM UID under the 2.25 root (UUID-derived), unique per call. */
export function newUid(): string {
  return `2.25.${BigInt(`0x${randomBytes(16).toString('hex')}`).toString()}`;
}

type VR = 'AE' | 'CS' | 'DA' | 'DS' | 'IS' | 'LO' | 'PN' | 'SH' | 'TM' | 'UI' | 'US' | 'UL' | 'OB' | 'OW' | 'ST';
const LONG_VRS = new Set<VR>(['OB', 'OW']);

function pad(vr: VR, v: Buffer): Buffer {
  if (v.length % 2 === 0) return v;
  return Buffer.concat([v, Buffer.from([vr === 'UI' || vr === 'OB' ? 0 : 0x20])]);
}

function element(group: number, elem: number, vr: VR, value: Buffer | string | number | (string | number)[]): Buffer {
  let data: Buffer;
  if (Buffer.isBuffer(value)) data = value;
  else if (vr === 'US') data = Buffer.from(new Uint16Array([value as number]).buffer);
  else if (vr === 'UL') data = Buffer.from(new Uint32Array([value as number]).buffer);
  else data = Buffer.from(Array.isArray(value) ? value.join('\\') : String(value), 'latin1');
  data = pad(vr, data);
  const head = Buffer.alloc(LONG_VRS.has(vr) ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(elem, 2);
  head.write(vr, 4, 'latin1');
  if (LONG_VRS.has(vr)) head.writeUInt32LE(data.length, 8);
  else head.writeUInt16LE(data.length, 6);
  return Buffer.concat([head, data]);
}

const ds = (n: number) => Number(n.toFixed(6)).toString();

function phantomSlice(spec: Required<Pick<SeriesSpec, 'rows' | 'columns' | 'slices'>>, z: number, seed: number): Buffer {
  const { rows, columns, slices } = spec;
  const px = new Uint16Array(rows * columns);
  let state = seed >>> 0 || 1;
  const noise = () => {
    state = (1664525 * state + 1013904223) >>> 0;
    return state / 0x100000000 - 0.5;
  };
  const cz = (slices - 1) / 2;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      const dx = (x - columns / 2) / (columns * 0.38);
      const dy = (y - rows / 2) / (rows * 0.45);
      const dz = slices > 1 ? (z - cz) / (slices * 0.6) : 0;
      const r = Math.sqrt(dx * dx + dy * dy + dz * dz);
      let v = 20 + 8 * noise();
      if (r < 1) v = (r < 0.6 ? 900 : 600) + 30 * noise();
      px[y * columns + x] = Math.max(0, Math.round(v));
    }
  }
  return Buffer.from(px.buffer);
}

/** The files of one series, one Part 10 buffer per slice (InstanceNumber 1..slices). */
export function syntheticSeries(spec: SeriesSpec): Buffer[] {
  const rows = spec.rows ?? 64;
  const columns = spec.columns ?? 64;
  const slices = spec.slices ?? 16;
  const [sr, sc] = spec.pixelSpacing ?? [3, 3];
  const thick = spec.sliceThickness ?? 3;
  const date = spec.studyDate ?? '20240102';
  const time = spec.studyTime ?? '101500';
  const out: Buffer[] = [];
  for (let i = 0; i < slices; i++) {
    const sopUid = newUid();
    const body = Buffer.concat([
      element(0x0008, 0x0008, 'CS', ['ORIGINAL', 'PRIMARY', 'M', 'ND']),
      element(0x0008, 0x0016, 'UI', '1.2.840.10008.5.1.4.1.1.4'),
      element(0x0008, 0x0018, 'UI', sopUid),
      element(0x0008, 0x0020, 'DA', date),
      element(0x0008, 0x0021, 'DA', date),
      element(0x0008, 0x0022, 'DA', date),
      element(0x0008, 0x0030, 'TM', time),
      element(0x0008, 0x0031, 'TM', time),
      element(0x0008, 0x0032, 'TM', time),
      element(0x0008, 0x0060, 'CS', 'MR'),
      element(0x0008, 0x0070, 'LO', 'Sprocket Synthetic'),
      element(0x0008, 0x1030, 'LO', 'Synthetic study'),
      element(0x0008, 0x103e, 'LO', spec.seriesDescription),
      element(0x0010, 0x0010, 'PN', `Synthetic^${spec.patientId}`),
      element(0x0010, 0x0020, 'LO', spec.patientId),
      element(0x0018, 0x0020, 'CS', 'GR'),
      element(0x0018, 0x0050, 'DS', ds(thick)),
      element(0x0018, 0x0080, 'DS', ds(spec.repetitionTime ?? 2300)),
      element(0x0018, 0x0081, 'DS', ds(spec.echoTime ?? 2.98)),
      ...(spec.inversionTime ? [element(0x0018, 0x0082, 'DS', ds(spec.inversionTime))] : []),
      element(0x0018, 0x0087, 'DS', '3'),
      element(0x0018, 0x0088, 'DS', ds(thick)),
      element(0x0018, 0x1030, 'LO', spec.protocolName ?? spec.seriesDescription),
      element(0x0018, 0x5100, 'CS', 'HFS'),
      element(0x0020, 0x000d, 'UI', spec.studyUid),
      element(0x0020, 0x000e, 'UI', spec.seriesUid),
      element(0x0020, 0x0010, 'SH', '1'),
      element(0x0020, 0x0011, 'IS', String(spec.seriesNumber)),
      element(0x0020, 0x0013, 'IS', String(i + 1)),
      element(0x0020, 0x0032, 'DS', [ds((-columns * sc) / 2), ds((-rows * sr) / 2), ds(i * thick)]),
      element(0x0020, 0x0037, 'DS', ['1', '0', '0', '0', '1', '0']),
      element(0x0020, 0x1041, 'DS', ds(i * thick)),
      element(0x0028, 0x0002, 'US', 1),
      element(0x0028, 0x0004, 'CS', 'MONOCHROME2'),
      element(0x0028, 0x0010, 'US', rows),
      element(0x0028, 0x0011, 'US', columns),
      element(0x0028, 0x0030, 'DS', [ds(sr), ds(sc)]),
      element(0x0028, 0x0100, 'US', 16),
      element(0x0028, 0x0101, 'US', 16),
      element(0x0028, 0x0102, 'US', 15),
      element(0x0028, 0x0103, 'US', 0),
      element(0x7fe0, 0x0010, 'OW', phantomSlice({ rows, columns, slices }, i, (spec.seed ?? spec.seriesNumber) * 7919 + i)),
    ]);
    const metaBody = Buffer.concat([
      element(0x0002, 0x0001, 'OB', Buffer.from([0, 1])),
      element(0x0002, 0x0002, 'UI', '1.2.840.10008.5.1.4.1.1.4'),
      element(0x0002, 0x0003, 'UI', sopUid),
      element(0x0002, 0x0010, 'UI', '1.2.840.10008.1.2.1'),
      element(0x0002, 0x0012, 'UI', '1.2.826.0.1.3680043.10.1155'),
    ]);
    const meta = Buffer.concat([element(0x0002, 0x0000, 'UL', metaBody.length), metaBody]);
    out.push(Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), meta, body]));
  }
  return out;
}

/** The standard scale-run layout: subjects × sessions × series, with realistic series names. */
export const STANDARD_SERIES = [
  { description: 'T1w MPRAGE', tr: 2300, te: 2.98, ti: 900 },
  { description: 'T2w SPACE', tr: 3200, te: 409 },
  { description: 'FLAIR', tr: 5000, te: 387, ti: 1800 },
  { description: 'PD axial', tr: 2500, te: 12 },
] as const;
