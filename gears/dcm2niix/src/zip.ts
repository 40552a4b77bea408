import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import yauzl from 'yauzl';
import { crc32 } from '../../lib/src/crc32.js';

/**
 * ZIP archives (ZIP64 included) through yauzl, bundled into the gear by scripts/build-gears.ts: the
 * gear may only rely on what a bare Debian /usr provides, and `unzip` is not guaranteed there.
 * Members are read one at a time, each whole before it is written, so memory stays bounded by
 * the largest member.
 */
export interface ZipMember {
  name: string;
  size: number;
  isDirectory: boolean;
}

export class ZipError extends Error {}

function openZip(fd: number): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    // lazyEntries: one member at a time, in directory order. decodeStrings off: yauzl would refuse
    // the whole archive over one absolute or '..' name, where the gear has always kept only the
    // leaf of every name (prepare.ts), so such a name can point nowhere; names are decoded below.
    yauzl.fromFd(fd, { lazyEntries: true, autoClose: false, decodeStrings: false }, (err, zip) =>
      err ? reject(new ZipError(err.message)) : resolve(zip),
    );
  });
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  for (let done = 0; done < length; ) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new ZipError(`unexpected end of archive at byte ${position + done}`);
    done += n;
  }
  return buf;
}

/**
 * The member's whole content. yauzl finds its bytes (central directory, ZIP64, local header, bounds
 * against the file size); they are read and inflated here in one step, not through yauzl's
 * stream: bench/parsers.ts measured streaming members at 1.3-2.6 times the hand-written reader on
 * real series, from one thread-pool round trip per 16 KB chunk. The declared size bounds the
 * inflation (a member that lies about it cannot inflate without limit) and must match, and the
 * CRC-32 is checked, which yauzl never does.
 */
async function readMember(zip: yauzl.ZipFile, fd: number, entry: yauzl.Entry, name: string): Promise<Buffer> {
  if (entry.isEncrypted()) throw new ZipError(`${name}: encrypted entries are not supported`);
  let start: number;
  try {
    start = (await zip.readLocalFileHeaderPromise(entry, { minimal: true })).fileDataStart;
  } catch (err) {
    throw new ZipError(`${name}: ${(err as Error).message}`);
  }
  const raw = readAt(fd, start, entry.compressedSize);
  let data: Buffer;
  if (entry.compressionMethod === 0) data = raw;
  else if (entry.compressionMethod === 8) {
    try {
      data = inflateRawSync(raw, { maxOutputLength: Math.max(entry.uncompressedSize, 1) });
    } catch (err) {
      throw new ZipError(`${name}: ${(err as Error).message}`);
    }
  } else throw new ZipError(`${name}: compression method ${entry.compressionMethod} is not supported (only stored and deflate)`);
  if (data.length !== entry.uncompressedSize) throw new ZipError(`${name}: size ${data.length} != ${entry.uncompressedSize}`);
  if (crc32(data) !== entry.crc32 >>> 0) throw new ZipError(`${name}: CRC mismatch (archive damaged)`);
  return data;
}

/**
 * Walks the members of the zip at `path` in directory order. For each, `target` says where its
 * content goes (a file path), or undefined to skip it; the content is checked against the declared
 * size and CRC-32, then written there, before the next member is read. Stored and deflated
 * members only; encrypted ones are refused.
 */
export async function extractZip(path: string, target: (member: ZipMember) => string | undefined): Promise<void> {
  const fd = openSync(path, 'r');
  try {
    const zip = await openZip(fd);
    for (;;) {
      const entry = await new Promise<yauzl.Entry | undefined>((resolve, reject) => {
        const onEntry = (e: yauzl.Entry) => {
          zip.off('end', onEnd).off('error', onError);
          resolve(e);
        };
        const onEnd = () => {
          zip.off('entry', onEntry).off('error', onError);
          resolve(undefined);
        };
        const onError = (err: Error) => {
          zip.off('entry', onEntry).off('end', onEnd);
          reject(new ZipError(err.message));
        };
        zip.once('entry', onEntry).once('end', onEnd).once('error', onError);
        zip.readEntry();
      });
      if (!entry) return;
      // yauzl's decoding (UTF-8 flag, Info-ZIP Unicode path field, else CP437; '\\' becomes '/').
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
      const isDirectory = name.endsWith('/');
      const to = target({ name, size: entry.uncompressedSize, isDirectory });
      if (to === undefined || isDirectory) continue;
      writeFileSync(to, await readMember(zip, fd, entry, name));
    }
  } finally {
    // The descriptor is ours (yauzl.fromFd): closed here, also when yauzl refused the archive, and
    // zip.close() is not called, which would close it a second time.
    closeSync(fd);
  }
}

const LOCAL = 0x04034b50;
const EOCD = 0x06054b50;

/** By magic bytes, not by name: a local header first, or the end record of an empty archive. */
export function isZip(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && (head.readUInt32LE(0) === LOCAL || head.readUInt32LE(0) === EOCD);
  } finally {
    closeSync(fd);
  }
}
