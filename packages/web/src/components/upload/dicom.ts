import { DICOMDIR_SOP_CLASS, type DicomHeader, DICOM_SORT_TAGS as T } from '@sprocket/types';
import type { Picked } from './collect.js';

export interface DroppedDicom extends DicomHeader {
  picked: Picked;
}

/** Enough for the header of almost any file; larger headers are read whole on a second try. */
const HEAD_BYTES = 256 * 1024;
const IMPLICIT_LE = '1.2.840.10008.1.2';

function hasPreamble(b: Uint8Array): boolean {
  return b.length >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d;
}

/** A file without the Part 10 preamble is tried as a raw implicit-VR data set when it starts like one (as the CLI does). */
function looksLikeRawDataSet(b: Uint8Array): boolean {
  if (b.length < 8) return false;
  const group = b[0]! | (b[1]! << 8);
  return group === 0x0008 || group === 0x0010 || group === 0x0018 || group === 0x0020;
}

/** Whether a file may be DICOM, from its first 132 bytes (cheap: decides if the parser is loaded at all). */
export async function mayBeDicom(f: File): Promise<boolean> {
  if (f.size < 8) return false;
  const b = new Uint8Array(await f.slice(0, 132).arrayBuffer());
  return hasPreamble(b) || looksLikeRawDataSet(b);
}

type Parser = typeof import('dicom-parser');
let parser: Promise<Parser> | undefined;
// dicom-parser is a UMD bundle: its exports are the default export or the namespace, depending on the bundler.
const loadParser = () => (parser ??= import('dicom-parser').then((m) => ((m as unknown as { default?: Parser }).default ?? m) as Parser));

/** The sorting fields of one dropped file, or undefined when it is no DICOM image of a series. */
export async function readDicomHeader(p: Picked): Promise<DroppedDicom | undefined> {
  const dp = await loadParser();
  const parse = (b: Uint8Array) =>
    dp.parseDicom(b, { untilTag: 'x7fe00010', ...(hasPreamble(b) ? {} : { TransferSyntaxUID: IMPLICIT_LE }) } as Parameters<
      Parser['parseDicom']
    >[1]);
  let buf = new Uint8Array(await p.file.slice(0, HEAD_BYTES).arrayBuffer());
  if (!hasPreamble(buf) && !looksLikeRawDataSet(buf)) return undefined;
  let ds: ReturnType<Parser['parseDicom']>;
  try {
    ds = parse(buf);
  } catch {
    if (buf.length >= p.file.size) return undefined;
    buf = new Uint8Array(await p.file.arrayBuffer());
    try {
      ds = parse(buf);
    } catch {
      return undefined;
    }
  }
  const str = (tag: string) => {
    try {
      return (ds.string(tag) ?? '').replace(/\0/g, '').trim();
    } catch {
      return '';
    }
  };
  const studyUid = str(T.studyUid);
  const seriesUid = str(T.seriesUid);
  if (!studyUid || !seriesUid || str(T.mediaStorageSopClass) === DICOMDIR_SOP_CLASS) return undefined;
  return {
    picked: p,
    file: p.path,
    size: p.file.size,
    patientId: str(T.patientId),
    studyUid,
    seriesUid,
    studyDescription: str(T.studyDescription),
    studyDate: str(T.studyDate),
    seriesNumber: str(T.seriesNumber),
    seriesDescription: str(T.seriesDescription),
    instanceNumber: Number(str(T.instanceNumber)) || 0,
  };
}

/** A series' zip, and where each member's bytes end in it (in member order), to count files sent. */
export interface SeriesZip {
  blob: Blob;
  ends: number[];
}

/** How many members of a zip have been sent whole once `sent` bytes of it have gone. */
export function membersSent(zip: SeriesZip, sent: number): number {
  let n = 0;
  while (n < zip.ends.length && zip.ends[n]! <= sent) n++;
  return n;
}

const utf8Length = (s: string) => new TextEncoder().encode(s).length;

/** One series zipped as the CLI uploads it: members named by their file names, in instance order. */
export async function zipSeries(files: DroppedDicom[]): Promise<SeriesZip> {
  const { zip } = await import('fflate');
  const members: Record<string, Uint8Array> = {};
  for (const f of files) {
    const base = f.picked.path.split('/').pop() || 'file.dcm';
    let name = base;
    for (let i = 2; name in members; i++) name = `${i}_${base}`;
    members[name] = new Uint8Array(await f.picked.file.arrayBuffer());
  }
  // Stored, not deflated: pixel data barely compresses and the browser's time is the user's.
  const bytes = await new Promise<Uint8Array>((resolve, reject) => zip(members, { level: 0 }, (e, d) => (e ? reject(e) : resolve(d))));
  // Stored members lie one after the other, in the order fflate walks the object's keys (which
  // is not always insertion order: integer-like names come first): a 30-byte local header, the
  // name, the data. Close enough to tell which files have gone; the central directory follows.
  const ends: number[] = [];
  let at = 0;
  for (const [name, data] of Object.entries(members)) {
    at += 30 + utf8Length(name) + data.length;
    ends.push(at);
  }
  return { blob: new Blob([bytes as BlobPart], { type: 'application/zip' }), ends };
}
