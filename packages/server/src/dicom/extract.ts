import fs from 'node:fs';
import path from 'node:path';
import { type Classification, classify } from './classify.js';
import { DicomError, type Header, looksLikeDicom, type ParsedHeader, parseDicomHeader, peekSlice, type SlicePeek } from './header.js';
import { DEFAULT_EXTRACT_LIMITS, type ExtractLimits } from './limits.js';
import { InflateBudget, inflatePrefix, LimitError, ZipArchive, ZipError } from './zip.js';

/** What header extraction learns from one uploaded DICOM file or zipped series. */
export interface Extraction {
  header: Header;
  modality: string | null;
  classification: Classification;
  /** Set for zip series: how many files the zip holds. */
  zipMemberCount?: number;
  /** For zip series: the member the header was read from (the lowest InstanceNumber). */
  member?: string;
}

/** Most headers end well inside this; a longer one is read in growing heads. */
const HEAD_BYTES = 256 << 10;
/** A header (everything before the pixel data) is never read past this much content. */
const MAX_HEADER_BYTES = 64 << 20;
/** A plain (uncompressed) file costs no inflation: its header may run this far. */
const MAX_PLAIN_HEADER_BYTES = 1 << 30;
/** How much of each zip member is inflated to find its InstanceNumber and orientation. */
const PEEK_BYTES = 64 << 10;

export { DEFAULT_EXTRACT_LIMITS, type ExtractLimits };

/** Where extraction gave up on a bound: reported as the file's header_error, never skipped over. */
class Deadline {
  private readonly at: number;
  constructor(private readonly seconds: number) {
    this.at = Date.now() + seconds * 1000;
  }

  check(what: string): void {
    if (Date.now() > this.at)
      throw new LimitError(`stopped at ${what}: header extraction took longer than ${this.seconds} s (SPROCKET_DICOM_EXTRACT_TIMEOUT)`);
  }
}

function readHead(file: string, size: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const len = Math.min(size, HEAD_BYTES);
    return readAt(fd, 0, len);
  } finally {
    fs.closeSync(fd);
  }
}

function readAt(fd: number, position: number, len: number): Buffer {
  const buf = Buffer.allocUnsafe(len);
  let done = 0;
  while (done < len) {
    const n = fs.readSync(fd, buf, done, len - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

/**
 * Parses the header from growing heads of some content (`head(n)`: its first n bytes, fewer only
 * where it ends) of `total` bytes, never reading past `max`: the pixel data is not needed.
 */
function parseFromHeads(head: (n: number) => Buffer, total: number, max: number): ParsedHeader {
  for (let n = HEAD_BYTES; ; n *= 4) {
    const want = Math.min(n, total, max);
    const buf = head(want);
    if (buf.length < want || buf.length >= total) return parseDicomHeader(buf);
    try {
      return parseDicomHeader(buf, total);
    } catch (err) {
      if (!(err instanceof DicomError && err.needMore)) throw err;
      if (want >= max)
        throw new DicomError(`the header does not end within the first ${max} bytes; longer headers are not read (${err.message})`);
    }
  }
}

/** Peeks at growing heads of a member until it reads as a slice; undefined when it is not DICOM. */
function peekFromHeads(head: (n: number) => Buffer, total: number): SlicePeek | undefined {
  for (let n = PEEK_BYTES; ; n *= 4) {
    const want = Math.min(n, total, MAX_HEADER_BYTES);
    const buf = head(want);
    const peek = peekSlice(buf);
    // A header longer than the peek (big private blocks) needs a longer head.
    if (peek || buf.length < want || want >= total || want >= MAX_HEADER_BYTES || !looksLikeDicom(buf)) return peek;
  }
}

function result(header: Header, hasPixelData: boolean, facts: { sliceCount?: number; orientations?: number } = {}): Extraction {
  // Zeros parse as empty elements: a "header" with nothing in it says the content is not DICOM.
  if (Object.keys(header).length === 0)
    throw new DicomError('no DICOM attributes found (only empty, group-length or private elements before the pixel data)');
  const modality = typeof header.Modality === 'string' && header.Modality ? header.Modality : null;
  return { header, modality, classification: classify(header, { ...facts, hasPixelData }) };
}

/** Junk that archivers add and that is never part of a series. */
function isClutter(name: string): boolean {
  const base = path.posix.basename(name);
  return name.startsWith('__MACOSX/') || base.startsWith('._') || base === '.DS_Store' || base.toUpperCase() === 'DICOMDIR';
}

function extractZip(file: string, limits: ExtractLimits, budget: InflateBudget, deadline: Deadline): Extraction {
  const zip = ZipArchive.open(file, { maxEntries: limits.maxMembers });
  try {
    const members = zip.entries.filter((e) => !e.isDirectory);
    const candidates = members.filter((e) => !isClutter(e.name));
    if (candidates.length === 0)
      throw new DicomError(`zip holds no files (${zip.entries.length} entries, all folders or archiver clutter)`);
    const slices: { name: string; instance: number; index: number }[] = [];
    const orientations = new Set<string>();
    let firstProblem: string | undefined;
    for (const [index, entry] of candidates.entries()) {
      deadline.check(`member ${index + 1} of ${candidates.length} ('${entry.name}')`);
      let peek: SlicePeek | undefined;
      try {
        peek = peekFromHeads((n) => zip.readHead(entry, n, budget), entry.size);
      } catch (err) {
        if (err instanceof LimitError) throw err;
        firstProblem ??= `'${entry.name}': ${(err as Error).message}`;
        continue;
      }
      if (!peek) {
        firstProblem ??= `'${entry.name}' is not DICOM`;
        continue;
      }
      if (peek.orientation) orientations.add(peek.orientation);
      slices.push({ name: entry.name, instance: peek.instanceNumber ?? Number.POSITIVE_INFINITY, index });
    }
    if (slices.length === 0) {
      throw new DicomError(`zip holds no readable DICOM file (${candidates.length} files; ${firstProblem ?? 'none parsed'})`);
    }
    slices.sort((a, b) => a.instance - b.instance || a.name.localeCompare(b.name));
    // The lowest instance that parses in full; a broken first slice should not hide a good series.
    let lastError: Error | undefined;
    for (const s of slices) {
      const entry = candidates[s.index]!;
      deadline.check(`the header of '${entry.name}'`);
      try {
        const parsed = parseFromHeads((n) => zip.readHead(entry, n, budget), entry.size, MAX_HEADER_BYTES);
        return {
          ...result(parsed.header, parsed.hasPixelData, { sliceCount: slices.length, orientations: orientations.size }),
          zipMemberCount: members.length,
          member: entry.name,
        };
      } catch (err) {
        if (err instanceof LimitError) throw err;
        lastError ??= new DicomError(`'${entry.name}': ${(err as Error).message}`);
      }
    }
    throw lastError ?? new DicomError('zip holds no readable DICOM file');
  } finally {
    zip.close();
  }
}

/** A gzipped DICOM file: only as much is inflated as its header needs. */
function extractGzip(file: string, size: number, budget: InflateBudget): Extraction {
  const fd = fs.openSync(file, 'r');
  let data: Buffer;
  try {
    // Deflate never makes data much larger: twice the longest header in input is plenty.
    data = readAt(fd, 0, Math.min(size, MAX_HEADER_BYTES * 2 + 4096));
  } finally {
    fs.closeSync(fd);
  }
  let parsed: ParsedHeader;
  try {
    // The full size is unknown (ISIZE is modulo 2^32): a head shorter than asked for is the whole.
    parsed = parseFromHeads((n) => inflatePrefix(data, n, 'gzip', budget, 'the gzip data'), Number.MAX_SAFE_INTEGER, MAX_HEADER_BYTES);
  } catch (err) {
    if (err instanceof ZipError && !(err instanceof LimitError)) throw new DicomError(`gzip data does not decompress: ${err.message}`);
    throw err;
  }
  return result(parsed.header, parsed.hasPixelData);
}

/**
 * Extracts the header of a `dicom` file: a single DICOM file (optionally gzipped) or a zip of a series.
 * Throws DicomError/ZipError with a reason fit for `info.header_error`.
 */
export function extractFile(file: string, limits: ExtractLimits = DEFAULT_EXTRACT_LIMITS): Extraction {
  const size = fs.statSync(file).size;
  if (size === 0) throw new DicomError('empty file');
  const magic = readHead(file, Math.min(size, 4));
  const budget = new InflateBudget(limits.maxInflatedBytes);
  try {
    if (magic[0] === 0x50 && magic[1] === 0x4b && (magic[2] === 3 || magic[2] === 5))
      return extractZip(file, limits, budget, new Deadline(limits.timeoutSeconds));
    if (magic[0] === 0x1f && magic[1] === 0x8b) return extractGzip(file, size, budget);
  } catch (err) {
    if (err instanceof ZipError) throw new DicomError(err.message);
    throw err;
  }
  const fd = fs.openSync(file, 'r');
  try {
    const parsed = parseFromHeads((n) => readAt(fd, 0, n), size, MAX_PLAIN_HEADER_BYTES);
    return result(parsed.header, parsed.hasPixelData);
  } finally {
    fs.closeSync(fd);
  }
}
