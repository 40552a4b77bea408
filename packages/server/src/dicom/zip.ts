import fs from 'node:fs';
import zlib from 'node:zlib';

/**
 * A minimal ZIP reader: the central directory (with ZIP64), stored and deflated members. Enough to
 * look inside uploaded `.dicom.zip` series without an external unzip, synchronously (it runs in a
 * worker thread, where blocking is the point).
 */

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  isDirectory: boolean;
}

export class ZipError extends Error {}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/** One member is inflated in memory; anything larger than this is refused rather than risked. */
const MAX_MEMBER_BYTES = 1 << 30;

export class ZipArchive {
  readonly entries: ZipEntry[];
  private readonly size: number;

  private constructor(
    private readonly fd: number,
    size: number,
  ) {
    this.size = size;
    this.entries = this.readDirectory();
  }

  static open(file: string): ZipArchive {
    const fd = fs.openSync(file, 'r');
    try {
      return new ZipArchive(fd, fs.fstatSync(fd).size);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  private bytes(position: number, length: number): Buffer {
    if (position < 0 || position + length > this.size) {
      throw new ZipError(`zip is truncated or corrupt: needs bytes ${position}..${position + length} of a ${this.size}-byte file`);
    }
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, done, length - done, position + done);
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
    const dir = this.bytes(dirOffset, dirSize);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > dir.length || dir.readUInt32LE(p) !== CENTRAL) throw new ZipError(`zip central directory is corrupt at entry ${i + 1} of ${count}`);
      const flags = dir.readUInt16LE(p + 8);
      const method = dir.readUInt16LE(p + 10);
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
      entries.push({ name, method, flags, compressedSize, size, localHeaderOffset, isDirectory: name.endsWith('/') });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  }

  private dataStart(entry: ZipEntry): number {
    if (entry.flags & 1) throw new ZipError(`'${entry.name}' is encrypted`);
    const local = this.bytes(entry.localHeaderOffset, 30);
    if (local.readUInt32LE(0) !== LOCAL) throw new ZipError(`no local header for '${entry.name}' where the central directory points`);
    return entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  }

  /**
   * About the first `bytes` bytes of the member's content (fewer if it is shorter), inflating only
   * a prefix of the compressed data: enough to read a DICOM header without unpacking the pixels.
   */
  readHead(entry: ZipEntry, bytes: number): Buffer {
    if (entry.size <= bytes) return this.read(entry);
    const start = this.dataStart(entry);
    if (entry.method === 0) return this.bytes(start, bytes);
    if (entry.method !== 8) return this.read(entry);
    // DICOM rarely shrinks below half in deflate, so twice the wanted output in input is plenty.
    const data = this.bytes(start, Math.min(entry.compressedSize, bytes * 2));
    try {
      const out = zlib.inflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      return out.subarray(0, Math.min(out.length, bytes));
    } catch (err) {
      throw new ZipError(`'${entry.name}' does not inflate: ${(err as Error).message}`);
    }
  }

  /** The member's uncompressed content. */
  read(entry: ZipEntry): Buffer {
    if (entry.size > MAX_MEMBER_BYTES) throw new ZipError(`'${entry.name}' is ${entry.size} bytes uncompressed; members over 1 GiB are not read`);
    const start = this.dataStart(entry);
    const data = this.bytes(start, entry.compressedSize);
    if (entry.method === 0) return data;
    if (entry.method !== 8) throw new ZipError(`'${entry.name}' uses compression method ${entry.method}; only stored (0) and deflate (8) are supported`);
    let out: Buffer;
    try {
      // The declared size bounds the output, so a lying header cannot inflate without limit.
      out = zlib.inflateRawSync(data, { maxOutputLength: Math.max(entry.size, 1) });
    } catch (err) {
      throw new ZipError(`'${entry.name}' does not inflate: ${(err as Error).message}`);
    }
    if (out.length !== entry.size) throw new ZipError(`'${entry.name}' inflates to ${out.length} bytes, the directory says ${entry.size}`);
    return out;
  }
}
