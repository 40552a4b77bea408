import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUid, syntheticSeries } from '../../../test-fixtures/synthetic-dicom.js';
import { type Api, makeHierarchy, startTestServer, type TestServer } from './helpers.js';

/**
 * Decompression bombs sent as DICOM: header extraction reads only what a header needs, stops at its
 * bounds (SPROCKET_DICOM_*), and says why in `info.header_error` instead of an empty header.
 */

const MiB = 2 ** 20;
/** 1 MiB of zeros as a full-flushed deflate segment: segments concatenate into one valid stream. */
const ZERO_SEGMENT = zlib.deflateRawSync(Buffer.alloc(MiB), { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH });
const FINAL_BLOCK = Buffer.from([0x03, 0x00]);

/** Raw deflate of `head` followed by `zerosMiB` MiB of zeros, built without inflating anything. */
function deflatedBomb(head: Buffer, zerosMiB: number): { data: Buffer; size: number; crc: number } {
  const lead = head.length ? [zlib.deflateRawSync(head, { finishFlush: zlib.constants.Z_FULL_FLUSH })] : [];
  const parts = [...lead, ...Array<Buffer>(zerosMiB).fill(ZERO_SEGMENT), FINAL_BLOCK];
  let crc = zlib.crc32(head);
  const zeros = Buffer.alloc(MiB);
  for (let i = 0; i < zerosMiB; i++) crc = zlib.crc32(zeros, crc);
  return { data: Buffer.concat(parts), size: head.length + zerosMiB * MiB, crc };
}

/** A zip (deflated members) written by hand, so its members can be bombs a zip tool would not make. */
function bombZip(members: { name: string; head?: Buffer; zerosMiB: number }[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const { data, size, crc } = deflatedBomb(m.head ?? Buffer.alloc(0), m.zerosMiB);
    const name = Buffer.from(m.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(20, 4);
    entry.writeUInt16LE(20, 6);
    entry.writeUInt16LE(8, 10);
    entry.writeUInt32LE(crc >>> 0, 16);
    entry.writeUInt32LE(data.length, 20);
    entry.writeUInt32LE(size, 24);
    entry.writeUInt16LE(name.length, 28);
    entry.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    central.push(entry, name);
    offset += local.length + name.length + data.length;
  }
  const dir = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

/** A real slice's bytes up to its PixelData, then a PixelData element declaring `pixelBytes`. */
function sliceHead(instance: number, pixelBytes: number): Buffer {
  const [slice] = syntheticSeries({
    patientId: 'bomb',
    studyUid: newUid(),
    seriesUid: newUid(),
    seriesNumber: 1,
    seriesDescription: 'bomb',
    rows: 4,
    columns: 4,
    slices: 1,
  });
  const at = slice!.indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57]));
  const pixel = Buffer.alloc(12);
  pixel.writeUInt16LE(0x7fe0, 0);
  pixel.writeUInt16LE(0x0010, 2);
  pixel.write('OW', 4, 'latin1');
  pixel.writeUInt32LE(pixelBytes, 8);
  const head = Buffer.concat([slice!.subarray(0, at), pixel]);
  // The instance number is the 1-character IS value of (0020,0013) in the synthetic slice.
  const tag = head.indexOf(Buffer.from([0x20, 0x00, 0x13, 0x00, 0x49, 0x53]));
  head.write(String(instance % 10), tag + 8, 'latin1');
  return head;
}

/** gzip members concatenate: `mib` MiB of zeros as gzip, without gzipping a GiB. */
function gzipBomb(mib: number): Buffer {
  const one = zlib.gzipSync(Buffer.alloc(MiB), { level: 9 });
  return Buffer.concat(Array<Buffer>(mib).fill(one));
}

/** A Part 10 file in the deflated transfer syntax whose data set inflates to `mib` MiB of zeros. */
function deflatedDataSetBomb(mib: number): Buffer {
  const el = (elem: number, value: string) => {
    const v = Buffer.from(value.length % 2 ? `${value}\0` : value, 'latin1');
    const h = Buffer.alloc(8);
    h.writeUInt16LE(0x0002, 0);
    h.writeUInt16LE(elem, 2);
    h.write('UI', 4, 'latin1');
    h.writeUInt16LE(v.length, 6);
    return Buffer.concat([h, v]);
  };
  const metaBody = Buffer.concat([el(0x0002, '1.2.840.10008.5.1.4.1.1.4'), el(0x0003, newUid()), el(0x0010, '1.2.840.10008.1.2.1.99')]);
  const groupLength = Buffer.alloc(12);
  groupLength.writeUInt16LE(0x0002, 0);
  groupLength.write('UL', 4, 'latin1');
  groupLength.writeUInt16LE(4, 6);
  groupLength.writeUInt32LE(metaBody.length, 8);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), groupLength, metaBody, deflatedBomb(Buffer.alloc(0), mib).data]);
}

async function upload(api: Api, acq: string, name: string, content: Buffer) {
  const r = await api.upload(`/acquisitions/${acq}/files`, [{ name, content: new Blob([content]) }]);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

/** Polls the file until its header (or the reason there is none) is recorded; bounded, no fixed sleep. */
async function extracted(api: Api, acq: string, name: string): Promise<any> {
  const deadline = Date.now() + 150_000;
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    const r = await api.get(`/acquisitions/${acq}/files/${encodeURIComponent(name)}/info`);
    expect(r.status).toBe(200);
    if (r.body.info?.header?.dicom || r.body.info?.header_error) return r.body;
    if (Date.now() > deadline) throw new Error(`no header recorded for ${name}: ${JSON.stringify(r.body.info)}`);
    await new Promise((res) => setTimeout(res, delay));
  }
}

describe('DICOM bombs with the default bounds', () => {
  let s: TestServer;
  let acq: string;
  beforeAll(async () => {
    s = await startTestServer();
    acq = (await makeHierarchy(s.admin)).acquisition;
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('a 1 MB .dicom.zip inflating to 1 GiB gets a header_error, not an empty header', async () => {
    const bomb = bombZip([{ name: 'series/slice.dcm', zerosMiB: 1024 }]);
    expect(bomb.length).toBeLessThan(1.2e6);
    await upload(s.admin, acq, 'bomb.dicom.zip', bomb);
    const f = await extracted(s.admin, acq, 'bomb.dicom.zip');
    expect(f.info.header).toBeUndefined();
    expect(f.info.header_error).toMatch(/'series\/slice\.dcm': no DICOM attributes found/);
  });

  it('a gzipped 1 GiB of zeros gets a header_error', async () => {
    await upload(s.admin, acq, 'bomb.dcm.gz', gzipBomb(1024));
    const f = await extracted(s.admin, acq, 'bomb.dcm.gz');
    expect(f.info.header).toBeUndefined();
    expect(f.info.header_error).toMatch(/no DICOM attributes found/);
  });

  it('a deflated data set inflating to 300 MiB is refused, naming the bound', async () => {
    await upload(s.admin, acq, 'deflated.dcm', deflatedDataSetBomb(300));
    const f = await extracted(s.admin, acq, 'deflated.dcm');
    expect(f.info.header).toBeUndefined();
    expect(f.info.header_error).toMatch(/the deflated data set inflates to more than 268435456 bytes/);
  });
});

describe('DICOM bombs with small bounds (SPROCKET_DICOM_*)', () => {
  let s: TestServer;
  let acq: string;
  beforeAll(async () => {
    s = await startTestServer({ env: { SPROCKET_DICOM_MAX_INFLATED_BYTES: String(4 * MiB), SPROCKET_DICOM_ZIP_MAX_MEMBERS: '100' } });
    acq = (await makeHierarchy(s.admin)).acquisition;
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('reads a real header in front of 1 GiB of pixel zeros within a 4 MiB budget', async () => {
    await upload(s.admin, acq, 'pixels.dicom.zip', bombZip([{ name: 'slice.dcm', head: sliceHead(1, 1024 * MiB), zerosMiB: 1024 }]));
    const f = await extracted(s.admin, acq, 'pixels.dicom.zip');
    expect(f.info.header_error).toBeUndefined();
    expect(f.info.header.dicom).toMatchObject({ Modality: 'MR', PatientID: 'bomb', InstanceNumber: 1, Rows: 4 });
    expect(f.zip_member_count).toBe(1);
    expect(f.modality).toBe('MR');
  });

  it('stops at the inflation budget and records where', async () => {
    // 80 real slices whose pixels are 1 MiB of zeros: each peek inflates at least 64 KiB, over 5 MiB in all.
    const members = Array.from({ length: 80 }, (_, i) => ({
      name: `s${String(i).padStart(3, '0')}.dcm`,
      head: sliceHead(i + 1, MiB),
      zerosMiB: 1,
    }));
    await upload(s.admin, acq, 'many.dicom.zip', bombZip(members));
    const f = await extracted(s.admin, acq, 'many.dicom.zip');
    expect(f.info.header).toBeUndefined();
    expect(f.info.header_error).toMatch(
      /^stopped at 's0\d\d\.dcm': header extraction inflated more than 4194304 bytes of this file \(SPROCKET_DICOM_MAX_INFLATED_BYTES\)$/,
    );
  });

  it('does not read a zip with more members than the bound', async () => {
    const members = Array.from({ length: 150 }, (_, i) => ({ name: `m${i}.dcm`, zerosMiB: 0, head: Buffer.from('x') }));
    await upload(s.admin, acq, 'crowd.dicom.zip', bombZip(members));
    const f = await extracted(s.admin, acq, 'crowd.dicom.zip');
    expect(f.info.header_error).toBe('the zip has 150 members; more than 100 are not read (SPROCKET_DICOM_ZIP_MAX_MEMBERS)');
  });
});

describe('DICOM text a file declares', () => {
  it("a character set named after an Object member ('constructor') is an unknown one: latin1, not a crash", async () => {
    const [slice] = syntheticSeries({
      patientId: 'charset',
      studyUid: newUid(),
      seriesUid: newUid(),
      seriesNumber: 1,
      seriesDescription: 'charset',
      rows: 4,
      columns: 4,
      slices: 1,
    });
    // (0008,0005) SpecificCharacterSet, CS, first of group 0008 (explicit VR little endian).
    const at = slice!.indexOf(Buffer.from([0x08, 0x00]), 132 + 12);
    const cs = Buffer.alloc(8 + 12);
    cs.writeUInt16LE(0x0008, 0);
    cs.writeUInt16LE(0x0005, 2);
    cs.write('CS', 4, 'latin1');
    cs.writeUInt16LE(12, 6);
    cs.write('constructor ', 8, 'latin1');
    const { parseDicomHeader } = await import('../src/dicom/header.js');
    const parsed = parseDicomHeader(Buffer.concat([slice!.subarray(0, at), cs, slice!.subarray(at)]));
    expect(parsed.header.SpecificCharacterSet).toBe('constructor');
    expect(parsed.header.PatientID).toBe('charset');
  });
});
