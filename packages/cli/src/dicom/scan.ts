import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import zlib from 'node:zlib';
import { DICOMDIR_SOP_CLASS, type DicomHeader, DICOM_SORT_TAGS as T } from '@sprocket/types';
import type * as DicomParser from 'dicom-parser';

// dicom-parser is a UMD bundle; require() gets its real exports whatever ESM interop makes of it.
// Loaded on first use: it takes longer to load than the rest of the CLI, which mostly never needs it.
let parserModule: typeof DicomParser | undefined;
const dicomParser = (): typeof DicomParser => (parserModule ??= createRequire(import.meta.url)('dicom-parser') as typeof DicomParser);

/** The header fields the import sorts by (@sprocket/types sorts them, shared with the web UI). */
export interface DicomInfo extends DicomHeader {
  studyTime: string;
}

/** Enough for the header of almost any file; larger headers are read whole on a second try. */
const HEAD_BYTES = 256 * 1024;
const IMPLICIT_LE = '1.2.840.10008.1.2';

function str(ds: DicomParser.DataSet, tag: string): string {
  try {
    return (ds.string(tag) ?? '').replace(/\0/g, '').trim();
  } catch {
    return '';
  }
}

function hasPreamble(buf: Uint8Array): boolean {
  return buf.length >= 132 && buf[128] === 0x44 && buf[129] === 0x49 && buf[130] === 0x43 && buf[131] === 0x4d;
}

/** A file without the Part 10 preamble is tried as a raw implicit-VR data set when it starts like one. */
function looksLikeRawDataSet(buf: Uint8Array): boolean {
  if (buf.length < 8) return false;
  const group = buf[0]! | (buf[1]! << 8);
  return group === 0x0008 || group === 0x0010 || group === 0x0018 || group === 0x0020;
}

function parse(buf: Uint8Array, partial: boolean): DicomParser.DataSet {
  const preamble = hasPreamble(buf);
  if (!preamble && !looksLikeRawDataSet(buf)) throw new Error('not DICOM');
  return dicomParser().parseDicom(buf, {
    untilTag: 'x7fe00010',
    ...(preamble ? {} : { TransferSyntaxUID: IMPLICIT_LE }),
    inflater: ((arr: Uint8Array, position: number) => {
      if (partial) throw new Error('deflated: needs the whole file');
      const inflated = zlib.inflateRawSync(arr.subarray(position));
      return Buffer.concat([Buffer.from(arr.buffer, arr.byteOffset, position), inflated]);
    }) as unknown as DicomParser.ParseDicomOptions['inflater'],
  } as DicomParser.ParseDicomOptions);
}

async function readHead(file: string, size: number): Promise<Buffer> {
  const n = Math.min(size, HEAD_BYTES);
  const fh = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * The sorting fields of one file, or undefined when it is not a DICOM image of a series (other
 * files, DICOMDIR indexes, files without study or series UIDs).
 */
export async function readDicomInfo(file: string, size: number): Promise<DicomInfo | undefined> {
  if (size < 8) return undefined;
  let buf = await readHead(file, size);
  let ds: DicomParser.DataSet;
  try {
    ds = parse(buf, buf.length < size);
  } catch (e) {
    if (buf.length >= size || (e as Error).message === 'not DICOM') return undefined;
    buf = await fs.promises.readFile(file);
    try {
      ds = parse(buf, false);
    } catch {
      return undefined;
    }
  }
  const studyUid = str(ds, T.studyUid);
  const seriesUid = str(ds, T.seriesUid);
  if (!studyUid || !seriesUid || str(ds, T.mediaStorageSopClass) === DICOMDIR_SOP_CLASS) return undefined;
  return {
    file,
    size,
    patientId: str(ds, T.patientId),
    studyUid,
    seriesUid,
    studyDescription: str(ds, T.studyDescription),
    studyDate: str(ds, T.studyDate),
    studyTime: str(ds, T.studyTime),
    seriesNumber: str(ds, T.seriesNumber),
    seriesDescription: str(ds, T.seriesDescription),
    instanceNumber: Number(str(ds, T.instanceNumber)) || 0,
  };
}

/** Every regular file under a folder (hidden files and folders skipped), in a stable order. */
export async function walkFiles(dir: string): Promise<{ file: string; size: number }[]> {
  const out: { file: string; size: number }[] = [];
  const visit = async (d: string) => {
    const entries = await fs.promises.readdir(d, { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await visit(p);
      else if (e.isFile()) out.push({ file: p, size: (await fs.promises.stat(p)).size });
    }
  };
  await visit(dir);
  return out;
}
