import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import zlib from 'node:zlib';
import { LimitError, ZipArchive, type ZipEntry, ZipError, type ZipSource } from '../dicom/zip.js';
import { ApiError, apiError } from '../errors.js';
import type { FileStore } from './store.js';

/**
 * Zip members of stored files (Flywheel's `?info=true` and `?member=` on file downloads). The member
 * list comes from the central directory alone, so listing never inflates anything; one member is
 * streamed from its bytes in the stored file, inflated on the way out, never held in memory.
 * A store with local paths is read in place; any other (S3) by ranges: the end record, the directory
 * and the member's local header are fetched as the reader asks for them, never the whole file.
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

/** One stored file version whose content is read as a zip. */
export interface StoredZip {
  store: FileStore;
  key: string;
  size: number;
}

/** The most bytes fetched in one piece for the directory of a zip on a store without local paths. */
const MAX_FETCH = 64 << 20;

/** ZipArchive asked for bytes a FetchedSource does not hold yet. */
class NeedBytes extends Error {
  constructor(
    readonly position: number,
    readonly length: number,
  ) {
    super(`bytes ${position}+${length} not fetched`);
  }
}

/**
 * The pieces of a stored zip fetched so far, served synchronously to ZipArchive. A read outside them
 * throws NeedBytes; the caller fetches that range and parses again (a directory parse is cheap, the
 * round trips are what count: the tail, the directory, a local header).
 */
class FetchedSource implements ZipSource {
  private readonly pieces: { start: number; data: Buffer }[] = [];

  constructor(readonly size: number) {}

  readAt(buf: Buffer, offset: number, length: number, position: number): number {
    for (const p of this.pieces) {
      if (position >= p.start && position < p.start + p.data.length)
        return p.data.copy(buf, offset, position - p.start, Math.min(p.data.length, position - p.start + length));
    }
    throw new NeedBytes(position, length);
  }

  async fetch(blob: StoredZip, position: number, length: number, what: string): Promise<void> {
    if (length > MAX_FETCH) throw new ApiError('PAYLOAD_TOO_LARGE', `${what} has a zip directory over ${MAX_FETCH} bytes; it is not read`);
    const chunks: Buffer[] = [];
    for await (const c of blob.store.open(blob.key, { start: position, end: position + length - 1 })) chunks.push(c as Buffer);
    this.pieces.push({ start: position, data: Buffer.concat(chunks) });
  }

  close(): void {}
}

function openWith(make: () => ZipArchive, what: string): ZipArchive {
  try {
    return make();
  } catch (err) {
    if (err instanceof LimitError)
      throw new ApiError('PAYLOAD_TOO_LARGE', `${what} has more than ${ZIP_MAX_MEMBERS} members; they are not listed`);
    if (err instanceof ZipError) throw new ApiError('BAD_REQUEST', `${what} is not a zip archive (${err.message})`);
    throw err;
  }
}

/** Opens the stored zip and runs `use` on it (which may read more of it), closing it after. */
async function withZip<T>(blob: StoredZip, what: string, use: (zip: ZipArchive) => T): Promise<T> {
  const file = blob.store.pathOf?.(blob.key);
  if (file) {
    const zip = openWith(() => ZipArchive.open(file, { maxEntries: ZIP_MAX_MEMBERS }), what);
    try {
      return use(zip);
    } finally {
      zip.close();
    }
  }
  const source = new FetchedSource(blob.size);
  // Each missing piece is fetched once; a well-formed zip needs three or four, a forged one gets no more than this.
  for (let fetches = 0; ; fetches++) {
    try {
      return use(openWith(() => ZipArchive.from(source, { maxEntries: ZIP_MAX_MEMBERS }), what));
    } catch (err) {
      if (!(err instanceof NeedBytes)) throw err;
      if (fetches >= 8) throw new ApiError('BAD_REQUEST', `${what} is not a zip archive (its records point in circles)`);
      await source.fetch(blob, err.position, err.length, what);
    }
  }
}

/**
 * The member list of a stored zip. A local directory is read synchronously: it is bounded by
 * ZIP_MAX_MEMBERS (a few megabytes at most), and reading it is a handful of reads.
 */
export function zipInfo(blob: StoredZip, what: string): Promise<ZipInfo> {
  return withZip(blob, what, (zip) => ({
    comment: zip.comment,
    members: zip.entries
      .filter((e) => !e.isDirectory)
      .map((e) => ({ path: e.name, size: e.size, timestamp: e.modified.toISOString(), comment: e.comment })),
  }));
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
 * One member of a stored zip as a stream of its content, and its entry (for Content-Length).
 * Stored and deflated members only; encrypted ones are refused. The stream errors (cutting the
 * response short, so the client sees a broken transfer, not wrong bytes) when the content does not
 * match what the directory declares.
 */
export async function openZipMember(blob: StoredZip, member: string, what: string): Promise<{ entry: ZipEntry; stream: Readable }> {
  const { entry, start } = await withZip(blob, what, (zip) => locateMember(zip, member, what));
  const check = new MemberCheck(entry, `member '${member}' of ${what}`);
  if (entry.compressedSize === 0) {
    check.end();
    return { entry, stream: check };
  }
  const raw = blob.store.open(blob.key, { start, end: start + entry.compressedSize - 1 });
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
