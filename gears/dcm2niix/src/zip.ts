import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { crc32 } from '../../lib/src/crc32.js';

/**
 * A reader for ZIP archives (including ZIP64) built on node:zlib, because the gear may only rely on
 * what a bare Debian /usr provides and `unzip` is not guaranteed there. Entries are located through
 * the central directory and read one at a time, so memory stays bounded by the largest entry.
 */
export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  isDirectory: boolean;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export class ZipError extends Error {}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new ZipError(`unexpected end of archive at byte ${position + done}`);
    done += n;
  }
  return buf;
}

function u64(buf: Buffer, at: number): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError('archive offsets beyond 2^53 bytes');
  return Number(v);
}

export class ZipReader {
  private readonly fd: number;
  readonly entries: ZipEntry[];

  constructor(path: string) {
    this.fd = openSync(path, 'r');
    try {
      this.entries = this.readCentralDirectory();
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private readCentralDirectory(): ZipEntry[] {
    const size = fstatSync(this.fd).size;
    // The end record is 22 bytes plus a comment of at most 65535 bytes.
    const tailLen = Math.min(size, 22 + 0xffff);
    const tail = readAt(this.fd, size - tailLen, tailLen);
    let at = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD) {
        at = i;
        break;
      }
    }
    if (at < 0) throw new ZipError('not a ZIP archive (no end of central directory record)');
    let count = tail.readUInt16LE(at + 10);
    let cdSize = tail.readUInt32LE(at + 12);
    let cdOffset = tail.readUInt32LE(at + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const locAt = at - 20;
      if (locAt < 0 || tail.readUInt32LE(locAt) !== EOCD64_LOCATOR) throw new ZipError('ZIP64 locator missing');
      const eocd64 = readAt(this.fd, u64(tail, locAt + 8), 56);
      if (eocd64.readUInt32LE(0) !== EOCD64) throw new ZipError('ZIP64 end record missing');
      count = u64(eocd64, 32);
      cdSize = u64(eocd64, 40);
      cdOffset = u64(eocd64, 48);
    }
    const cd = readAt(this.fd, cdOffset, cdSize);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let n = 0; n < count; n++) {
      if (cd.readUInt32LE(p) !== CENTRAL) throw new ZipError(`corrupt central directory at entry ${n}`);
      const flags = cd.readUInt16LE(p + 8);
      const method = cd.readUInt16LE(p + 10);
      const crc = cd.readUInt32LE(p + 16);
      let compressedSize = cd.readUInt32LE(p + 20);
      let uncompressed = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let localHeaderOffset = cd.readUInt32LE(p + 42);
      // Bit 11: UTF-8 names; older archivers wrote CP437, for which latin1 is the closest lossless read.
      const name = cd.toString(flags & 0x800 ? 'utf8' : 'latin1', p + 46, p + 46 + nameLen);
      const extra = cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
      for (let e = 0; e + 4 <= extra.length; ) {
        const id = extra.readUInt16LE(e);
        const len = extra.readUInt16LE(e + 2);
        if (id === 0x0001) {
          // ZIP64 extra: only the fields whose 32-bit slot overflowed are present, in this order.
          let q = e + 4;
          if (uncompressed === 0xffffffff) {
            uncompressed = u64(extra, q);
            q += 8;
          }
          if (compressedSize === 0xffffffff) {
            compressedSize = u64(extra, q);
            q += 8;
          }
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64(extra, q);
        }
        e += 4 + len;
      }
      entries.push({
        name,
        method,
        flags,
        crc,
        compressedSize,
        size: uncompressed,
        localHeaderOffset,
        isDirectory: name.endsWith('/'),
      });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  }

  read(entry: ZipEntry): Buffer {
    if (entry.flags & 0x1) throw new ZipError(`${entry.name}: encrypted entries are not supported`);
    const local = readAt(this.fd, entry.localHeaderOffset, 30);
    if (local.readUInt32LE(0) !== LOCAL) throw new ZipError(`${entry.name}: bad local header`);
    const dataAt = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    const raw = readAt(this.fd, dataAt, entry.compressedSize);
    let data: Buffer;
    if (entry.method === 0) data = raw;
    // The declared size bounds the output: a member that lies about it cannot inflate without limit.
    else if (entry.method === 8) data = inflateRawSync(raw, { maxOutputLength: Math.max(entry.size, 1) });
    else throw new ZipError(`${entry.name}: compression method ${entry.method} is not supported (only stored and deflate)`);
    if (data.length !== entry.size) throw new ZipError(`${entry.name}: size ${data.length} != ${entry.size}`);
    if (crc32(data) !== entry.crc >>> 0) throw new ZipError(`${entry.name}: CRC mismatch (archive damaged)`);
    return data;
  }
}

export function isZip(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && (head.readUInt32LE(0) === LOCAL || head.readUInt32LE(0) === EOCD);
  } finally {
    closeSync(fd);
  }
}
