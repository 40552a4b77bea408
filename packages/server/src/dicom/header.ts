import { createRequire } from 'node:module';
import { TextDecoder } from 'node:util';
import zlib from 'node:zlib';
import type * as DicomParser from 'dicom-parser';
import { lookupTag, parseParserTag } from './dictionary.js';

// dicom-parser is a UMD bundle; require() gets its real exports regardless of how ESM interop sees it.
const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof DicomParser;

export type HeaderValue = string | number | null | HeaderValue[] | { [k: string]: HeaderValue };
export type Header = Record<string, HeaderValue>;

/** Why a file's header could not be read, in words a user can act on. */
export class DicomError extends Error {
  constructor(
    message: string,
    /** Set when the bytes given were only the start of the file and more might fix it. */
    readonly needMore = false,
  ) {
    super(message);
  }
}

export interface ParsedHeader {
  header: Header;
  transferSyntax: string;
  hasPixelData: boolean;
}

const PIXEL_DATA = 'x7fe00010';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const DEFLATED_LE = '1.2.840.10008.1.2.1.99';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const UNDEFINED = 0xffffffff;
/** Values longer than this (overlay planes, LUTs, embedded documents) are left out of the header. */
const MAX_VALUE_BYTES = 64 * 1024;

const BINARY_VRS = new Set(['OB', 'OW', 'OF', 'OD', 'OL', 'OV', 'UN']);
const TEXT_VRS = new Set(['LT', 'ST', 'UT', 'UR']);
const CHARSET_VRS = new Set(['SH', 'LO', 'ST', 'LT', 'UC', 'UT', 'PN']);
const STRING_VRS = new Set(['AE', 'AS', 'CS', 'DA', 'DT', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UI', 'UR', 'UT', 'IS', 'DS']);
const VALID_VRS = new Set([...BINARY_VRS, ...STRING_VRS, 'AT', 'FL', 'FD', 'SL', 'SS', 'SV', 'UL', 'US', 'UV', 'SQ']);
const NUMBER_SIZES: Record<string, number> = { US: 2, SS: 2, UL: 4, SL: 4, FL: 4, FD: 8, SV: 8, UV: 8, AT: 4 };

/** SpecificCharacterSet defined terms → WHATWG encoding labels (ISO 2022 escapes are not followed). */
const CHARSETS: Record<string, string> = {
  ISO_IR_100: 'latin1',
  ISO_IR_101: 'iso-8859-2',
  ISO_IR_109: 'iso-8859-3',
  ISO_IR_110: 'iso-8859-4',
  ISO_IR_144: 'iso-8859-5',
  ISO_IR_127: 'iso-8859-6',
  ISO_IR_126: 'iso-8859-7',
  ISO_IR_138: 'iso-8859-8',
  ISO_IR_148: 'iso-8859-9',
  ISO_IR_203: 'iso-8859-15',
  ISO_IR_13: 'shift_jis',
  ISO_IR_166: 'windows-874',
  ISO_IR_192: 'utf-8',
  GB18030: 'gb18030',
  GBK: 'gbk',
  ISO_2022_IR_100: 'latin1',
  ISO_2022_IR_101: 'iso-8859-2',
  ISO_2022_IR_144: 'iso-8859-5',
  ISO_2022_IR_126: 'iso-8859-7',
  ISO_2022_IR_13: 'shift_jis',
  ISO_2022_IR_149: 'euc-kr',
  ISO_2022_IR_58: 'gb18030',
  ISO_2022_IR_87: 'iso-2022-jp',
};

const latin1 = new TextDecoder('latin1');

function messageOf(err: unknown): string {
  if (typeof err === 'string') return err;
  if (err instanceof Error) return err.message;
  if (err && typeof err === 'object' && 'exception' in err) return messageOf((err as { exception: unknown }).exception);
  return String(err);
}

/** Files without the Part 10 preamble: guess the encoding from how the first element looks. */
function guessRawTransferSyntax(buf: Uint8Array): string | undefined {
  if (buf.length < 8) return undefined;
  const groupLE = buf[0]! | (buf[1]! << 8);
  const groupBE = (buf[0]! << 8) | buf[1]!;
  const vr = String.fromCharCode(buf[4]!, buf[5]!);
  const plausible = (g: number) => g === 0x0008 || g === 0x0000 || g === 0x0002;
  if (plausible(groupLE)) return VALID_VRS.has(vr) ? EXPLICIT_LE : IMPLICIT_LE;
  if (plausible(groupBE) && VALID_VRS.has(vr)) return EXPLICIT_BE;
  return undefined;
}

function hasPreamble(buf: Uint8Array): boolean {
  return buf.length >= 132 && buf[128] === 0x44 && buf[129] === 0x49 && buf[130] === 0x43 && buf[131] === 0x4d;
}

/** True when the bytes start like a DICOM file (preamble, or a plausible first element). */
export function looksLikeDicom(buf: Uint8Array): boolean {
  return hasPreamble(buf) || guessRawTransferSyntax(buf) !== undefined;
}

/** A deflated data set inflating past this is refused: it would be a bomb, not a header. */
const MAX_INFLATED_DATA_SET = 256 << 20;

/**
 * Parses a DICOM file's header (everything before the pixel data) into Flywheel's header shape:
 * keyword → value; numbers as numbers, multiple values as arrays, sequences as arrays of objects,
 * person names as strings. Private, group-length, file-meta and binary attributes are left out, as
 * are empty values. `totalSize` is the file's size when `buf` holds only its beginning.
 */
export function parseDicomHeader(buf: Buffer, totalSize = buf.length): ParsedHeader {
  const partial = totalSize > buf.length;
  const preamble = hasPreamble(buf);
  const rawSyntax = preamble ? undefined : guessRawTransferSyntax(buf);
  if (!preamble && !rawSyntax) {
    if (totalSize < 132)
      throw new DicomError(`not a DICOM file: ${totalSize} bytes, too short for the 128-byte preamble and 'DICM' marker`);
    throw new DicomError("not a DICOM file: no 'DICM' marker at byte 128 and the content does not start like a DICOM data set");
  }
  let dataSet: DicomParser.DataSet;
  try {
    dataSet = dicomParser.parseDicom(buf, {
      untilTag: PIXEL_DATA,
      ...(rawSyntax ? { TransferSyntaxUID: rawSyntax } : {}),
      vrCallback: (tag: string) => lookupTag(parseParserTag(tag))?.vr,
      inflater: ((arr: Uint8Array, position: number) => {
        if (partial) throw new DicomError('deflated data set needs the whole file', true);
        let inflated: Buffer;
        try {
          inflated = zlib.inflateRawSync(arr.subarray(position), { maxOutputLength: MAX_INFLATED_DATA_SET });
        } catch (e) {
          if ((e as { code?: unknown }).code !== 'ERR_BUFFER_TOO_LARGE') throw e;
          throw new DicomError(`the deflated data set inflates to more than ${MAX_INFLATED_DATA_SET} bytes; not read`);
        }
        return Buffer.concat([Buffer.from(arr.buffer, arr.byteOffset, position), inflated]);
      }) as unknown as DicomParser.ParseDicomOptions['inflater'],
    } as DicomParser.ParseDicomOptions);
  } catch (err) {
    const inner = err && typeof err === 'object' && 'exception' in err ? (err as { exception: unknown }).exception : err;
    if (inner instanceof DicomError) throw inner;
    const msg = messageOf(err);
    if (/past end of buffer|buffer overread|buffer overrun|maxPosition|cannot seek/i.test(msg)) {
      throw new DicomError(`truncated DICOM file: the data ends inside an element (${msg})`, partial);
    }
    if (/0002,0010/.test(msg)) throw new DicomError('invalid DICOM file: the file meta header has no TransferSyntaxUID (0002,0010)');
    if (/incorrect header check|invalid (stored|block|distance|code)|unexpected end of file/i.test(msg)) {
      throw new DicomError(`invalid DICOM file: the deflated data set does not inflate (${msg})`);
    }
    throw new DicomError(`invalid DICOM file: ${msg}`, partial);
  }

  const transferSyntax = rawSyntax ?? readTransferSyntax(dataSet);
  const byteArray = dataSet.byteArray;
  // A deflated data set is parsed from its inflated copy; its size is the one that counts then.
  const available = byteArray === buf ? totalSize : byteArray.length;
  checkLengths(dataSet, byteArray.length, available, partial);

  const ctx = new Decoder(dataSet);
  const header = ctx.convert(dataSet, true);
  const hasDataElements = Object.keys(dataSet.elements).some((t) => !t.startsWith('x0002'));
  if (!hasDataElements) throw new DicomError('invalid DICOM file: a file meta header but no data set after it');
  return { header, transferSyntax, hasPixelData: PIXEL_DATA in dataSet.elements };
}

function readTransferSyntax(ds: DicomParser.DataSet): string {
  const el = ds.elements.x00020010 as (DicomParser.Element & { Value?: string }) | undefined;
  if (!el) return '';
  if (el.Value) return el.Value;
  return latin1
    .decode(ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length))
    .replace(/[\0 ]+$/, '')
    .trim();
}

/** dicom-parser skips over element values without checking they fit; a cut-off file shows here. */
function checkLengths(ds: DicomParser.DataSet, bufLen: number, fileLen: number, partial: boolean): void {
  for (const el of Object.values(ds.elements)) {
    if (el.tag === PIXEL_DATA) {
      if (el.length === UNDEFINED) checkEncapsulated(ds, el, bufLen, fileLen, partial);
      else if (el.dataOffset + el.length > fileLen) {
        throw new DicomError(
          `truncated DICOM file: PixelData declares ${el.length} bytes but only ${Math.max(0, fileLen - el.dataOffset)} follow`,
        );
      }
      continue;
    }
    if (!el.hadUndefinedLength && el.dataOffset + el.length > bufLen) {
      const where = `(${el.tag.slice(1, 5)},${el.tag.slice(5)})`.toUpperCase();
      throw new DicomError(`truncated DICOM file: element ${where} declares ${el.length} bytes but the file ends first`, partial);
    }
  }
}

/** Walks the fragment items of encapsulated pixel data to its sequence delimiter. */
function checkEncapsulated(ds: DicomParser.DataSet, el: DicomParser.Element, bufLen: number, fileLen: number, partial: boolean): void {
  if (partial) return; // fragments past the head are not in memory; the full read checks them
  const b = ds.byteArray;
  let p = el.dataOffset;
  while (p + 8 <= bufLen) {
    const group = b[p]! | (b[p + 1]! << 8);
    const elem = b[p + 2]! | (b[p + 3]! << 8);
    const len = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0;
    if (group !== 0xfffe) throw new DicomError(`invalid DICOM file: encapsulated PixelData has a non-item tag at byte ${p}`);
    if (elem === 0xe0dd) return;
    p += 8 + len;
  }
  throw new DicomError(
    `truncated DICOM file: encapsulated PixelData ends after ${Math.max(0, fileLen - el.dataOffset)} bytes without its delimiter`,
  );
}

class Decoder {
  private readonly decoder: TextDecoder;
  private readonly signedPixels: boolean;

  constructor(root: DicomParser.DataSet) {
    const cs = root.elements.x00080005;
    let label = 'latin1';
    if (cs && cs.length > 0) {
      const terms = this.bytes(root, cs)
        .toString('latin1')
        .split('\\')
        .map((t) =>
          t
            .replace(/[\0 ]+$/, '')
            .trim()
            .replace(/ /g, '_'),
        );
      const term = terms.find((t) => t) ?? '';
      // Own keys only: a file declaring the character set `constructor` is unknown, not Object's member.
      label = (Object.hasOwn(CHARSETS, term) ? CHARSETS[term] : undefined) ?? 'latin1';
    }
    this.decoder = new TextDecoder(label);
    this.signedPixels = root.elements.x00280103 ? this.numbers(root, root.elements.x00280103, 'US')[0] === 1 : false;
  }

  private bytes(ds: DicomParser.DataSet, el: DicomParser.Element): Buffer {
    const b = ds.byteArray;
    return Buffer.from(b.buffer, b.byteOffset + el.dataOffset, Math.min(el.length, b.length - el.dataOffset));
  }

  convert(ds: DicomParser.DataSet, topLevel: boolean): Header {
    const out: Header = {};
    const tags = Object.keys(ds.elements).sort();
    for (const t of tags) {
      const el = ds.elements[t]!;
      const tag = parseParserTag(t);
      const group = tag >>> 16;
      if (group & 1) continue; // private
      if ((tag & 0xffff) === 0) continue; // group length
      if (topLevel && (group === 0x0002 || t === PIXEL_DATA)) continue;
      if (group === 0xfffe) continue; // item/delimiter markers
      const entry = lookupTag(tag);
      if (!entry) continue;
      const value = this.value(ds, el, entry.vrs);
      if (value === undefined) continue;
      out[entry.keyword] = value;
    }
    return out;
  }

  private value(ds: DicomParser.DataSet, el: DicomParser.Element, dictVrs: string[]): HeaderValue | undefined {
    let vr = el.vr && el.vr !== 'UN' ? el.vr : (dictVrs[0] ?? 'UN');
    if (!el.vr && dictVrs.includes('SS') && dictVrs.includes('US')) vr = this.signedPixels ? 'SS' : 'US';
    if (el.items) {
      const items = el.items.filter((i) => i.dataSet).map((i) => this.convert(i.dataSet!, false));
      return items.length ? items : undefined;
    }
    if (vr === 'SQ' || BINARY_VRS.has(vr)) return undefined;
    if (el.length === 0 || el.length === UNDEFINED || el.length > MAX_VALUE_BYTES) return undefined;
    if (vr in NUMBER_SIZES) {
      const nums = vr === 'AT' ? this.tags(ds, el) : this.numbers(ds, el, vr);
      if (nums.length === 0) return undefined;
      return nums.length === 1 ? nums[0]! : nums;
    }
    const raw = this.bytes(ds, el);
    const text = CHARSET_VRS.has(vr) ? this.decoder.decode(raw) : latin1.decode(raw);
    if (TEXT_VRS.has(vr)) {
      const s = text.replace(/[\0 ]+$/, '');
      return s ? s : undefined;
    }
    const parts = text.split('\\').map((s) => s.replace(/[\0 ]+$/, '').trim());
    if (parts.every((p) => p === '')) return undefined;
    let values: HeaderValue[] = parts;
    if (vr === 'IS' || vr === 'DS') {
      values = parts.map((p) => {
        if (p === '') return null;
        const n = Number(p);
        return Number.isFinite(n) ? n : p;
      });
    }
    return values.length === 1 ? values[0]! : values;
  }

  private numbers(ds: DicomParser.DataSet, el: DicomParser.Element, vr: string): (number | null)[] {
    const size = NUMBER_SIZES[vr]!;
    const parser = el.parser ?? ds.byteArrayParser;
    const b = ds.byteArray;
    const bigEndian = parser === dicomParser.bigEndianByteArrayParser;
    const count = Math.floor(el.length / size);
    const out: (number | null)[] = [];
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < count; i++) {
      const at = el.dataOffset + i * size;
      if (at + size > b.length) break;
      let v: number;
      switch (vr) {
        case 'US':
          v = view.getUint16(at, !bigEndian);
          break;
        case 'SS':
          v = view.getInt16(at, !bigEndian);
          break;
        case 'UL':
          v = view.getUint32(at, !bigEndian);
          break;
        case 'SL':
          v = view.getInt32(at, !bigEndian);
          break;
        case 'FL':
          v = view.getFloat32(at, !bigEndian);
          break;
        case 'FD':
          v = view.getFloat64(at, !bigEndian);
          break;
        case 'SV':
          v = Number(view.getBigInt64(at, !bigEndian));
          break;
        default:
          v = Number(view.getBigUint64(at, !bigEndian));
      }
      out.push(Number.isFinite(v) ? v : null);
    }
    return out;
  }

  private tags(ds: DicomParser.DataSet, el: DicomParser.Element): string[] {
    const nums = this.numbers(ds, el, 'US');
    const out: string[] = [];
    const hex = (n: number | null) => (n ?? 0).toString(16).toUpperCase().padStart(4, '0');
    for (let i = 0; i + 1 < nums.length; i += 2) out.push(`(${hex(nums[i]!)},${hex(nums[i + 1]!)})`);
    return out;
  }
}

export interface SlicePeek {
  instanceNumber?: number;
  /** ImageOrientationPatient rounded to 1e-3, as text, for counting distinct orientations. */
  orientation?: string;
}

/**
 * Reads just far enough (up to Rows) to order a series' members and tell their orientations apart;
 * undefined when the bytes are not DICOM.
 */
export function peekSlice(buf: Buffer): SlicePeek | undefined {
  const rawSyntax = hasPreamble(buf) ? undefined : guessRawTransferSyntax(buf);
  if (!rawSyntax && !hasPreamble(buf)) return undefined;
  let ds: DicomParser.DataSet;
  try {
    ds = dicomParser.parseDicom(buf, {
      untilTag: 'x00280010',
      ...(rawSyntax ? { TransferSyntaxUID: rawSyntax } : {}),
    } as DicomParser.ParseDicomOptions);
  } catch {
    return undefined;
  }
  const out: SlicePeek = {};
  const n = ds.intString('x00200013');
  if (n !== undefined && Number.isFinite(n)) out.instanceNumber = n;
  const iop = ds.elements.x00200037;
  if (iop && iop.length > 0 && iop.dataOffset + iop.length <= ds.byteArray.length) {
    out.orientation = latin1
      .decode(ds.byteArray.subarray(iop.dataOffset, iop.dataOffset + iop.length))
      .split('\\')
      .map((v) => Number(v).toFixed(3))
      .join('\\');
  }
  return out;
}

export { DEFLATED_LE, EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE };
