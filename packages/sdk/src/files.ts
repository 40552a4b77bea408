import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Client } from './client.js';
import { SdkError } from './errors.js';
import type { MultipartPart } from './multipart.js';

/** Where a file lives: its container's plural route segment and id, and its name. */
export type FileLocation = {
  cont: string;
  id: string;
  name: string;
};

export interface DownloadOptions {
  /** An earlier version of the file (Flywheel's per-file versioning). */
  version?: number;
}

/** What `uploadFile` takes: a path on disk, or a name with content in memory or as a stream. */
export type UploadSource = string | { name: string; data: string | Uint8Array | AsyncIterable<Uint8Array>; contentType?: string };

const params = (loc: FileLocation) => ({ cont: loc.cont, id: loc.id, name: loc.name });

/** The response body of a file download as a Node stream. */
export async function openDownload(client: Client, loc: FileLocation, opts: DownloadOptions = {}): Promise<{ stream: Readable; etag?: string; size?: number }> {
  const res = await client.transport.send('downloadFile', { params: params(loc), query: { version: opts.version } });
  const etag = res.headers.get('etag') ?? undefined;
  const len = res.headers.get('content-length');
  const stream = res.body ? Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>) : Readable.from([]);
  return { stream, etag: etag?.replace(/^W\//, '').replace(/"/g, ''), size: len ? Number(len) : undefined };
}

/**
 * Streams a file to `dest` (a file path, or an existing directory to put it in under its own
 * name). Bytes go to a temporary file beside the destination, renamed into place only once
 * complete and, when the server names the content hash, verified against it, so `dest` never
 * holds a partial or corrupt file.
 */
export async function downloadTo(client: Client, loc: FileLocation, dest: string, opts: DownloadOptions = {}): Promise<string> {
  let target = path.resolve(dest);
  const st = await fs.promises.stat(target).catch(() => undefined);
  if (st?.isDirectory()) target = path.join(target, loc.name);
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  const { stream, etag } = await openDownload(client, loc, opts);
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.part`);
  const hash = createHash('sha384');
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(stream, tap, fs.createWriteStream(tmp));
    const digest = hash.digest('hex');
    if (etag && /^[0-9a-f]{96}$/.test(etag) && etag !== digest) {
      throw new SdkError(`download of ${loc.name} is corrupt: sha384 ${digest} but the server has ${etag}`);
    }
    await fs.promises.rename(tmp, target);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  return target;
}

/** A file's whole content in memory. */
export async function readAll(client: Client, loc: FileLocation, opts: DownloadOptions = {}): Promise<Buffer> {
  const res = await client.transport.send('downloadFile', { params: params(loc), query: { version: opts.version } });
  return Buffer.from(await res.arrayBuffer());
}

/** A one-shot URL for the file that needs no key (Flywheel's `?ticket=` flow). */
export async function downloadUrl(client: Client, loc: FileLocation): Promise<string> {
  const { ticket } = await client.transport.json<{ ticket: string }>('downloadFile', { params: params(loc), query: { ticket: '' } });
  return `${client.transport.url('downloadFile', { params: params(loc) }).url}?ticket=${encodeURIComponent(ticket)}`;
}

/** Turns upload sources into multipart file parts; paths are checked now and read while sending. */
export async function fileParts(sources: UploadSource[]): Promise<MultipartPart[]> {
  const parts: MultipartPart[] = [];
  for (const src of sources) {
    const name = typeof src === 'string' ? path.basename(src) : src.name;
    // Checked before anything is sent: such a name cannot travel in a multipart header.
    if (/[\r\n\0]/.test(name)) throw new SdkError(`file name ${JSON.stringify(name)} contains a line break or NUL`);
    if (typeof src === 'string') {
      const st = await fs.promises.stat(src);
      if (!st.isFile()) throw new SdkError(`${src} is not a file`);
      parts.push({ name: 'file', filename: path.basename(src), source: () => fs.createReadStream(src, { highWaterMark: 1 << 20 }) });
    } else {
      const { data } = src;
      const source = (): AsyncIterable<Uint8Array> | Uint8Array => (typeof data === 'string' ? Buffer.from(data) : data);
      parts.push({ name: 'file', filename: src.name, contentType: src.contentType, source });
    }
  }
  return parts;
}
