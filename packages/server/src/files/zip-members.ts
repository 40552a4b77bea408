import fs from 'node:fs';
import { type Readable, Transform } from 'node:stream';
import zlib from 'node:zlib';
import { LimitError, ZipArchive, type ZipEntry, ZipError } from '../dicom/zip.js';
import { ApiError, apiError } from '../errors.js';

/**
 * Zip members of stored files (Flywheel's `?info=true` and `?member=` on file downloads). The member
 * list comes from the central directory alone, so listing never inflates anything; one member is
 * streamed from its bytes in the stored file, inflated on the way out, never held in memory.
 */

/** Members listed or served from one zip; a larger central directory is refused before it is read. */
export const ZIP_MAX_MEMBERS = 100_000;
/** The largest member served: far above any imaging file, low enough that a forged size cannot ask for a petabyte. */
export const ZIP_MAX_MEMBER_BYTES = 64 * 1024 ** 3;

/** Flywheel's `FileZipInfo`: `{comment, members: [FileZipEntry]}`. */
export interface ZipInfo {
  comment: string;
  members: { path: string; size: number; timestamp: string; comment: string }[];
}

function openZip(file: string, what: string): ZipArchive {
  try {
    return ZipArchive.open(file, { maxEntries: ZIP_MAX_MEMBERS });
  } catch (err) {
    if (err instanceof LimitError)
      throw new ApiError('PAYLOAD_TOO_LARGE', `${what} has more than ${ZIP_MAX_MEMBERS} members; they are not listed`);
    if (err instanceof ZipError) throw new ApiError('BAD_REQUEST', `${what} is not a zip archive (${err.message})`);
    throw err;
  }
}

/**
 * The member list of the zip at `file`. The directory is read synchronously: it is bounded by
 * ZIP_MAX_MEMBERS (a few megabytes at most), and reading it is a handful of reads.
 */
export function zipInfo(file: string, what: string): ZipInfo {
  const zip = openZip(file, what);
  try {
    return {
      comment: zip.comment,
      members: zip.entries
        .filter((e) => !e.isDirectory)
        .map((e) => ({ path: e.name, size: e.size, timestamp: e.modified.toISOString(), comment: e.comment })),
    };
  } finally {
    zip.close();
  }
}

/**
 * Checks a member's content on its way out: never more bytes than the directory declares (a forged
 * entry, a bomb behind a small size), and at the end exactly that many with the declared CRC-32.
 * The last chunk is held back until the check passes, so a member that fails it never reaches the
 * client whole: before anything was sent it is a 400, after that the transfer breaks off short.
 */
class MemberCheck extends Transform {
  private seen = 0;
  private crc = 0;
  private held: Buffer | undefined;

  constructor(
    private readonly entry: ZipEntry,
    private readonly what: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.seen += chunk.length;
    if (this.seen > this.entry.size) {
      cb(new ApiError('BAD_REQUEST', `${this.what} inflates past its declared ${this.entry.size} bytes`));
      return;
    }
    this.crc = zlib.crc32(chunk, this.crc);
    const out = this.held;
    this.held = chunk;
    cb(null, out);
  }

  override _flush(cb: (err?: Error | null, data?: Buffer) => void): void {
    if (this.seen !== this.entry.size)
      cb(new ApiError('BAD_REQUEST', `${this.what} holds ${this.seen} bytes, not the ${this.entry.size} its entry declares`));
    else if (this.crc >>> 0 !== this.entry.crc32 >>> 0)
      cb(new ApiError('BAD_REQUEST', `${this.what} fails its CRC-32 check: the stored zip is corrupt`));
    else cb(null, this.held);
  }
}

/** The member's entry and where its stored bytes start, or the 4xx saying why it cannot be served. */
function locateMember(zip: ZipArchive, member: string, what: string): { entry: ZipEntry; start: number } {
  const entry = zip.entries.find((e) => e.name === member && !e.isDirectory);
  if (!entry) throw apiError('FILE_ZIP_MEMBER_NOT_FOUND', { member, file: what });
  if (entry.flags & 1) throw new ApiError('BAD_REQUEST', `member '${member}' of ${what} is encrypted`);
  if (entry.method !== 0 && entry.method !== 8)
    throw new ApiError(
      'BAD_REQUEST',
      `member '${member}' of ${what} uses compression method ${entry.method}; only stored (0) and deflate (8) are served`,
    );
  if (entry.size > ZIP_MAX_MEMBER_BYTES)
    throw new ApiError(
      'PAYLOAD_TOO_LARGE',
      `member '${member}' of ${what} declares ${entry.size} bytes, more than ${ZIP_MAX_MEMBER_BYTES} are not served`,
    );
  try {
    return { entry, start: zip.dataStart(entry) };
  } catch (err) {
    if (err instanceof ZipError) throw new ApiError('BAD_REQUEST', `member '${member}' of ${what} cannot be read: ${err.message}`);
    throw err;
  }
}

/**
 * One member of the zip at `file` as a stream of its content, and its entry (for Content-Length).
 * Stored and deflated members only; encrypted ones are refused. The stream errors (cutting the
 * response short, so the client sees a broken transfer, not wrong bytes) when the content does not
 * match what the directory declares.
 */
export function openZipMember(file: string, member: string, what: string): { entry: ZipEntry; stream: Readable } {
  const zip = openZip(file, what);
  let found: { entry: ZipEntry; start: number };
  try {
    found = locateMember(zip, member, what);
  } finally {
    zip.close();
  }
  const { entry, start } = found;
  const check = new MemberCheck(entry, `member '${member}' of ${what}`);
  if (entry.compressedSize === 0) {
    check.end();
    return { entry, stream: check };
  }
  const raw = fs.createReadStream(file, { start, end: start + entry.compressedSize - 1, highWaterMark: 1 << 20 });
  const fail = (err: Error) => check.destroy(new ApiError('BAD_REQUEST', `member '${member}' of ${what} cannot be read: ${err.message}`));
  raw.on('error', fail);
  if (entry.method === 0) raw.pipe(check);
  else {
    const inflate = zlib.createInflateRaw();
    inflate.on('error', fail);
    raw.pipe(inflate).pipe(check);
  }
  // A client that goes away stops the reads.
  check.on('close', () => {
    raw.destroy();
  });
  return { entry, stream: check };
}
