import fs from 'node:fs';
import zlib from 'node:zlib';

/**
 * Hand-written on purpose (issue 11, "libraries where they exist"): yauzl was measured against this
 * reader in the same run by bench/parsers.ts (`npm run bench:parsers`) and costs more than the
 * 20 % allowed on what the server does with a zip. Over three runs on the shared 2-core VM:
 * listing the members (zip members of stored files) took 27-47 times as long on the real GE
 * 20-slice series and 4.8-6.2 times on the Siemens diffusion mosaics; listing plus the 64 KB head DICOM
 * extraction inflates of every member 1.05-2.75 times on the first and 2.1-8.1 times on the second.
 * yauzl's reads and inflation are asynchronous streams, one thread-pool round trip per chunk, where
 * this reader lists a directory in one read and inflates a capped head in one call. It is also
 * synchronous, which header extraction needs: it runs in a worker thread, where blocking is the
 * point, and `extractFile` is a synchronous function. The gears, which unpack whole members, use
 * yauzl (gears/dcm2niix/src/zip.ts). This is the server's one ZIP reader: zip members of stored
 * files (files/zip-members.ts) use it too.
 *
 * What it reads: the central directory (with ZIP64), stored and deflated members. Enough to look
 * inside uploaded `.dicom.zip` series without an external unzip.
 */

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  isDirectory: boolean;
  /** CRC-32 of the content, from the central directory. */
  crc32: number;
  /** Last modification as the archiver recorded it (MS-DOS date and time: local time, 2-second steps). */
  modified: Date;
  comment: string;
}

/** An MS-DOS date and time (as zip stores them) as a Date read in UTC, which is what zip listings show. */
function dosDateTime(date: number, time: number): Date {
  const d = new Date(Date.UTC(1980 + (date >> 9), ((date >> 5) & 0xf) - 1, date & 0x1f, time >> 11, (time >> 5) & 0x3f, (time & 0x1f) * 2));
  return Number.isNaN(d.getTime()) ? new Date(Date.UTC(1980, 0, 1)) : d;
}

export class ZipError extends Error {}

/** Extraction stopped at a bound (bytes, members, time): the file's header_error says which. */
export class LimitError extends ZipError {}

/**
 * How many bytes one file's header extraction may inflate in all (zip members, gzip): a zip bomb
 * stops here with the reason, instead of burning a worker for its whole expansion.
 */
export class InflateBudget {
  used = 0;
  constructor(readonly max: number) {}

  charge(bytes: number, what: string): void {
    this.used += bytes;
    if (this.used > this.max) {
      throw new LimitError(
        `stopped at ${what}: header extraction inflated more than ${this.max} bytes of this file (SPROCKET_DICOM_MAX_INFLATED_BYTES)`,
      );
    }
  }
}

function tooLarge(err: unknown): boolean {
  return (err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE';
}

/**
 * The first `want` bytes (fewer when the data is shorter) that compressed `data` inflates to, never
 * inflating much more: growing prefixes of the input are inflated with the output capped, so a
 * member that expands a thousandfold costs about `want`, not its whole size. Each attempt is charged
 * to `budget`.
 */
export function inflatePrefix(data: Buffer, want: number, format: 'raw' | 'gzip', budget: InflateBudget, what: string): Buffer {
  const cap = want * 2 + (64 << 10);
  const inflate = (n: number) => {
    const input = data.subarray(0, n);
    const opts = { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: cap };
    return format === 'raw' ? zlib.inflateRawSync(input, opts) : zlib.gunzipSync(input, opts);
  };
  // Deflate expands at most ~1032:1, so this much input never overshoots the cap on the first try.
  let n = Math.min(data.length, Math.max(1024, Math.ceil(want / 1032)));
  let lo = 0;
  let hi: number | undefined;
  let best: Buffer = Buffer.alloc(0);
  for (;;) {
    let out: Buffer;
    try {
      out = inflate(n);
    } catch (err) {
      if (!tooLarge(err)) throw new ZipError(`${what} does not inflate: ${(err as Error).message}`);
      budget.charge(cap, what);
      hi = n;
      n = Math.floor((lo + hi) / 2);
      if (n <= lo) return best.subarray(0, want);
      continue;
    }
    budget.charge(out.length, what);
    if (out.length >= want || n >= data.length) return out.subarray(0, Math.min(out.length, want));
    best = out;
    lo = n;
    n = hi !== undefined ? Math.floor((lo + hi) / 2) : Math.min(data.length, n * 4);
    if (n <= lo) return best;
  }
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/**
 * Where a zip's bytes come from: a file descriptor here, or bytes already fetched from a store that
 * has no local path (files/zip-members.ts). Reads are synchronous; `readAt` returns fewer bytes only at the end.
 */
export interface ZipSource {
  readonly size: number;
  readAt(buf: Buffer, offset: number, length: number, position: number): number;
  close(): void;
}

function fileSource(file: string): ZipSource {
  const fd = fs.openSync(file, 'r');
  try {
    return {
      size: fs.fstatSync(fd).size,
      readAt: (buf, offset, length, position) => fs.readSync(fd, buf, offset, length, position),
      close: () => fs.closeSync(fd),
    };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

export class ZipArchive {
  readonly entries: ZipEntry[];
  /** The archive comment from the end record. */
  comment = '';
  private readonly size: number;

  private constructor(
    private readonly source: ZipSource,
    private readonly maxEntries: number,
  ) {
    this.size = source.size;
    this.entries = this.readDirectory();
  }

  /** `maxEntries` is checked against the end record before the directory is read. */
  static open(file: string, opts: { maxEntries?: number } = {}): ZipArchive {
    return ZipArchive.from(fileSource(file), opts);
  }

  /** Reads through `source`, which is closed if the directory cannot be read. */
  static from(source: ZipSource, opts: { maxEntries?: number } = {}): ZipArchive {
    try {
      return new ZipArchive(source, opts.maxEntries ?? Number.POSITIVE_INFINITY);
    } catch (err) {
      source.close();
      throw err;
    }
  }

  close(): void {
    this.source.close();
  }

  private bytes(position: number, length: number): Buffer {
    if (position < 0 || position + length > this.size) {
      throw new ZipError(`zip is truncated or corrupt: needs bytes ${position}..${position + length} of a ${this.size}-byte file`);
    }
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = this.source.readAt(buf, done, length - done, position + done);
      if (n === 0) throw new ZipError('zip ended early while reading');
      done += n;
    }
    return buf;
  }

  private readDirectory(): ZipEntry[] {
    if (this.size < 22) throw new ZipError(`not a zip file: ${this.size} bytes is shorter than an end-of-central-directory record`);
    // The end record sits within the last 22 + 65535 (maximum comment) bytes.
    const tailLen = Math.min(this.size, 22 + 0xffff);
    const tail = this.bytes(this.size - tailLen, tailLen);
    let at = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD) {
        at = i;
        break;
      }
    }
    if (at < 0) throw new ZipError('not a zip file: no end-of-central-directory record');
    let count = tail.readUInt16LE(at + 10);
    let dirSize = tail.readUInt32LE(at + 12);
    let dirOffset = tail.readUInt32LE(at + 16);
    const commentLength = tail.readUInt16LE(at + 20);
    this.comment = tail.subarray(at + 22, Math.min(tailLen, at + 22 + commentLength)).toString('utf8');
    if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
      const locAt = this.size - tailLen + at - 20;
      const loc = locAt >= 0 ? this.bytes(locAt, 20) : undefined;
      if (!loc || loc.readUInt32LE(0) !== EOCD64_LOCATOR) throw new ZipError('zip64 archive without a zip64 end-record locator');
      const rec = this.bytes(Number(loc.readBigUInt64LE(8)), 56);
      if (rec.readUInt32LE(0) !== EOCD64) throw new ZipError('zip64 end record not found where its locator points');
      count = Number(rec.readBigUInt64LE(32));
      dirSize = Number(rec.readBigUInt64LE(40));
      dirOffset = Number(rec.readBigUInt64LE(48));
    }
    if (count > this.maxEntries)
      throw new LimitError(`the zip has ${count} members; more than ${this.maxEntries} are not read (SPROCKET_DICOM_ZIP_MAX_MEMBERS)`);
    const dir = this.bytes(dirOffset, dirSize);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > dir.length || dir.readUInt32LE(p) !== CENTRAL)
        throw new ZipError(`zip central directory is corrupt at entry ${i + 1} of ${count}`);
      const flags = dir.readUInt16LE(p + 8);
      const method = dir.readUInt16LE(p + 10);
      const modified = dosDateTime(dir.readUInt16LE(p + 14), dir.readUInt16LE(p + 12));
      const crc32 = dir.readUInt32LE(p + 16);
      let compressedSize = dir.readUInt32LE(p + 20);
      let size = dir.readUInt32LE(p + 24);
      const nameLen = dir.readUInt16LE(p + 28);
      const extraLen = dir.readUInt16LE(p + 30);
      const commentLen = dir.readUInt16LE(p + 32);
      let localHeaderOffset = dir.readUInt32LE(p + 42);
      if (p + 46 + nameLen + extraLen > dir.length) throw new ZipError(`zip central directory is corrupt at entry ${i + 1}`);
      const rawName = dir.subarray(p + 46, p + 46 + nameLen);
      // Bit 11: the name is UTF-8; otherwise CP437, whose ASCII range is all real series use.
      const name = rawName.toString(flags & 0x800 ? 'utf8' : 'latin1');
      const extra = dir.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
      // ZIP64 extended information: only the fields whose 32-bit slot is saturated are present.
      for (let e = 0; e + 4 <= extra.length; ) {
        const id = extra.readUInt16LE(e);
        const len = extra.readUInt16LE(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          const next = (): number => {
            if (q + 8 > e + 4 + len) throw new ZipError(`zip64 extra field of '${name}' is too short`);
            const v = Number(extra.readBigUInt64LE(q));
            q += 8;
            return v;
          };
          if (size === 0xffffffff) size = next();
          if (compressedSize === 0xffffffff) compressedSize = next();
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
        }
        e += 4 + len;
      }
      const commentStart = p + 46 + nameLen + extraLen;
      const comment = dir
        .subarray(commentStart, Math.min(dir.length, commentStart + commentLen))
        .toString(flags & 0x800 ? 'utf8' : 'latin1');
      entries.push({
        name,
        method,
        flags,
        compressedSize,
        size,
        localHeaderOffset,
        isDirectory: name.endsWith('/'),
        crc32,
        modified,
        comment,
      });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  }

  /** Where the member's stored (possibly compressed) bytes begin in the file. */
  dataStart(entry: ZipEntry): number {
    if (entry.flags & 1) throw new ZipError(`'${entry.name}' is encrypted`);
    const local = this.bytes(entry.localHeaderOffset, 30);
    if (local.readUInt32LE(0) !== LOCAL) throw new ZipError(`no local header for '${entry.name}' where the central directory points`);
    return entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  }

  /**
   * The first `bytes` bytes of the member's content (fewer if it is shorter), inflating only about
   * that much whatever the member declares: enough to read a DICOM header without unpacking the
   * pixels. What is inflated is charged to `budget`.
   */
  readHead(entry: ZipEntry, bytes: number, budget: InflateBudget): Buffer {
    const start = this.dataStart(entry);
    const what = `'${entry.name}'`;
    if (entry.method === 0) return this.bytes(start, Math.min(entry.compressedSize, bytes));
    if (entry.method !== 8)
      throw new ZipError(`${what} uses compression method ${entry.method}; only stored (0) and deflate (8) are supported`);
    // Deflate never makes data more than a little larger, so twice the wanted output in input is plenty.
    const data = this.bytes(start, Math.min(entry.compressedSize, bytes * 2 + 4096));
    return inflatePrefix(data, Math.min(bytes, Math.max(entry.size, 1)), 'raw', budget, what);
  }
}
