import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { type Classification, classify } from './classify.js';
import { DicomError, type Header, parseDicomHeader, peekSlice } from './header.js';
import { ZipArchive, ZipError } from './zip.js';

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

/** Most headers end well inside this; a file is read whole only when its header does not. */
const HEAD_BYTES = 256 << 10;
const MAX_GUNZIP_BYTES = 1 << 30;
/** How much of each zip member is inflated to find its InstanceNumber and orientation. */
const PEEK_BYTES = 64 << 10;

function readHead(file: string, size: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const len = Math.min(size, HEAD_BYTES);
    const buf = Buffer.allocUnsafe(len);
    let done = 0;
    while (done < len) {
      const n = fs.readSync(fd, buf, done, len - done, done);
      if (n === 0) break;
      done += n;
    }
    return buf.subarray(0, done);
  } finally {
    fs.closeSync(fd);
  }
}

function parseFile(file: string, size: number) {
  const head = readHead(file, size);
  if (head.length === size) return parseDicomHeader(head);
  try {
    return parseDicomHeader(head, size);
  } catch (err) {
    if (err instanceof DicomError && err.needMore) return parseDicomHeader(fs.readFileSync(file));
    throw err;
  }
}

function result(header: Header, hasPixelData: boolean, facts: { sliceCount?: number; orientations?: number } = {}): Extraction {
  const modality = typeof header.Modality === 'string' && header.Modality ? header.Modality : null;
  return { header, modality, classification: classify(header, { ...facts, hasPixelData }) };
}

/** Junk that archivers add and that is never part of a series. */
function isClutter(name: string): boolean {
  const base = path.posix.basename(name);
  return name.startsWith('__MACOSX/') || base.startsWith('._') || base === '.DS_Store' || base.toUpperCase() === 'DICOMDIR';
}

function extractZip(file: string): Extraction {
  const zip = ZipArchive.open(file);
  try {
    const members = zip.entries.filter((e) => !e.isDirectory);
    const candidates = members.filter((e) => !isClutter(e.name));
    if (candidates.length === 0) throw new DicomError(`zip holds no files (${zip.entries.length} entries, all folders or archiver clutter)`);
    const slices: { name: string; instance: number; index: number }[] = [];
    const orientations = new Set<string>();
    let firstProblem: string | undefined;
    for (const [index, entry] of candidates.entries()) {
      let peek: ReturnType<typeof peekSlice>;
      try {
        const head = zip.readHead(entry, PEEK_BYTES);
        peek = peekSlice(head);
        // A header longer than the peek (big private blocks) needs the whole member.
        if (!peek && head.length < entry.size) peek = peekSlice(zip.read(entry));
      } catch (err) {
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
      try {
        const parsed = parseDicomHeader(zip.read(entry));
        return {
          ...result(parsed.header, parsed.hasPixelData, { sliceCount: slices.length, orientations: orientations.size }),
          zipMemberCount: members.length,
          member: entry.name,
        };
      } catch (err) {
        lastError ??= new DicomError(`'${entry.name}': ${(err as Error).message}`);
      }
    }
    throw lastError ?? new DicomError('zip holds no readable DICOM file');
  } finally {
    zip.close();
  }
}

/**
 * Extracts the header of a `dicom` file: a single DICOM file (optionally gzipped) or a zip of a series.
 * Throws DicomError/ZipError with a reason fit for `info.header_error`.
 */
export function extractFile(file: string): Extraction {
  const size = fs.statSync(file).size;
  if (size === 0) throw new DicomError('empty file');
  const magic = readHead(file, Math.min(size, 4));
  if (magic[0] === 0x50 && magic[1] === 0x4b && (magic[2] === 3 || magic[2] === 5)) {
    try {
      return extractZip(file);
    } catch (err) {
      if (err instanceof ZipError) throw new DicomError(err.message);
      throw err;
    }
  }
  if (magic[0] === 0x1f && magic[1] === 0x8b) {
    let buf: Buffer;
    try {
      buf = zlib.gunzipSync(fs.readFileSync(file), { maxOutputLength: MAX_GUNZIP_BYTES });
    } catch (err) {
      throw new DicomError(`gzip data does not decompress: ${(err as Error).message}`);
    }
    const parsed = parseDicomHeader(buf);
    return result(parsed.header, parsed.hasPixelData);
  }
  const parsed = parseFile(file, size);
  return result(parsed.header, parsed.hasPixelData);
}
