import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ApiError, SdkError } from './errors.js';
import type { ModelContext } from './model.js';
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

export interface DownloadToOptions extends DownloadOptions {
  /**
   * Keep partial content in `<dest>.part` when a download breaks, and continue from it next time
   * (HTTP Range). The whole file is still checked against the server's hash at the end.
   */
  resume?: boolean;
  /** Called as bytes arrive, with the running total and the full size when known. */
  onProgress?: (received: number, total: number | undefined) => void;
  /** Stops the download (with `resume`, what arrived stays in the part file). */
  signal?: AbortSignal;
}

/** What `uploadFile` takes: a path on disk, or a name with content in memory or as a stream. */
export type UploadSource = string | { name: string; data: string | Uint8Array | AsyncIterable<Uint8Array>; contentType?: string };

const params = (loc: FileLocation) => ({ cont: loc.cont, id: loc.id, name: loc.name });

/** The response body of a file download as a Node stream. */
export async function openDownload(
  client: ModelContext,
  loc: FileLocation,
  opts: DownloadOptions & { from?: number; signal?: AbortSignal } = {},
): Promise<{ stream: Readable; etag?: string; size?: number; partial: boolean }> {
  const headers = opts.from ? { Range: `bytes=${opts.from}-` } : undefined;
  const res = await client.transport.send('downloadFile', {
    params: params(loc),
    query: { version: opts.version },
    headers,
    signal: opts.signal,
  });
  const etag = res.headers.get('etag') ?? undefined;
  const len = res.headers.get('content-length');
  const stream = res.body ? Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>) : Readable.from([]);
  return { stream, etag: etag?.replace(/^W\//, '').replace(/"/g, ''), size: len ? Number(len) : undefined, partial: res.status === 206 };
}

async function hashFile(file: string, hash: ReturnType<typeof createHash>): Promise<number> {
  let n = 0;
  for await (const chunk of fs.createReadStream(file)) {
    hash.update(chunk as Buffer);
    n += (chunk as Buffer).length;
  }
  return n;
}

/**
 * Streams a file to `dest` (a file path, or an existing directory to put it in under its own
 * name). Bytes go to a temporary file beside the destination, renamed into place only once
 * complete and, when the server names the content hash, verified against it, so `dest` never
 * holds a partial or corrupt file. With `resume`, a broken download continues where it stopped.
 */
export async function downloadTo(client: ModelContext, loc: FileLocation, dest: string, opts: DownloadToOptions = {}): Promise<string> {
  let target = path.resolve(dest);
  const st = await fs.promises.stat(target).catch(() => undefined);
  if (st?.isDirectory()) target = path.join(target, loc.name);
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  const tmp = opts.resume
    ? `${target}.part`
    : path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.part`);

  let hash = createHash('sha384');
  let have = opts.resume ? await hashFile(tmp, hash).catch(() => 0) : 0;
  let dl: Awaited<ReturnType<typeof openDownload>>;
  try {
    dl = await openDownload(client, loc, { version: opts.version, from: have, signal: opts.signal });
  } catch (e) {
    // 416: the part is already as long as the file (or longer): start again from nothing.
    if (!(have && e instanceof ApiError && e.status === 416)) throw e;
    have = 0;
    dl = await openDownload(client, loc, { version: opts.version, signal: opts.signal });
  }
  if (!dl.partial) {
    // Starting over (no part, a part too long, or a server that sent the whole file anyway).
    have = 0;
    hash = createHash('sha384');
  }
  const total = dl.size !== undefined ? dl.size + have : undefined;
  let received = have;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      received += chunk.length;
      opts.onProgress?.(received, total);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(dl.stream, tap, fs.createWriteStream(tmp, { flags: have ? 'a' : 'w' }));
    const digest = hash.digest('hex');
    if (dl.etag && /^[0-9a-f]{96}$/.test(dl.etag) && dl.etag !== digest) {
      await fs.promises.rm(tmp, { force: true });
      throw new SdkError(`download of ${loc.name} is corrupt: sha384 ${digest} but the server has ${dl.etag}`);
    }
    await fs.promises.rename(tmp, target);
  } catch (e) {
    if (!opts.resume) await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  return target;
}

/** A file's whole content in memory. */
export async function readAll(client: ModelContext, loc: FileLocation, opts: DownloadOptions = {}): Promise<Buffer> {
  const res = await client.transport.send('downloadFile', { params: params(loc), query: { version: opts.version } });
  return Buffer.from(await res.arrayBuffer());
}

/** A one-shot URL for the file that needs no key (Flywheel's `?ticket=` flow). */
export async function downloadUrl(client: ModelContext, loc: FileLocation): Promise<string> {
  const { ticket } = await client.transport.json<{ ticket: string }>('downloadFile', { params: params(loc), query: { ticket: '' } });
  return `${client.transport.url('downloadFile', { params: params(loc) }).url}?ticket=${encodeURIComponent(ticket)}`;
}

/** One member of a zip file, as `GET …/files/{name}?info=true` lists it (Flywheel's FileZipEntry). */
export interface ZipMember {
  path: string;
  size: number;
  /** ISO date-time, as the archiver recorded it. */
  timestamp: string;
  comment: string;
}

/** A zip file's member list (Flywheel's FileZipInfo). */
export interface ZipInfo {
  comment: string;
  members: ZipMember[];
}

/** The member list of a zip file (the server answers 400 for a file that is not a zip). */
export function zipInfo(client: ModelContext, loc: FileLocation, opts: DownloadOptions = {}): Promise<ZipInfo> {
  return client.transport.json<ZipInfo>('downloadFile', { params: params(loc), query: { info: true, version: opts.version } });
}

/** One zip member's content as a Node stream, streamed out of the stored zip by the server. */
export async function openZipMember(
  client: ModelContext,
  loc: FileLocation,
  member: string,
  opts: DownloadOptions & { signal?: AbortSignal } = {},
): Promise<Readable> {
  const res = await client.transport.send('downloadFile', {
    params: params(loc),
    query: { member, version: opts.version },
    signal: opts.signal,
  });
  return res.body ? Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>) : Readable.from([]);
}

/**
 * Streams one zip member to `dest` (a file path, or an existing directory to put it in under the
 * member's base name), through a temporary file renamed into place once complete.
 */
export async function downloadZipMemberTo(
  client: ModelContext,
  loc: FileLocation,
  member: string,
  dest: string,
  opts: DownloadOptions & { signal?: AbortSignal } = {},
): Promise<string> {
  let target = path.resolve(dest);
  const st = await fs.promises.stat(target).catch(() => undefined);
  if (st?.isDirectory()) target = path.join(target, path.posix.basename(member));
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.part`);
  try {
    await pipeline(await openZipMember(client, loc, member, opts), fs.createWriteStream(tmp));
    await fs.promises.rename(tmp, target);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  return target;
}

/** One zip member's whole content in memory. */
export async function readZipMember(client: ModelContext, loc: FileLocation, member: string, opts: DownloadOptions = {}): Promise<Buffer> {
  const res = await client.transport.send('downloadFile', { params: params(loc), query: { member, version: opts.version } });
  return Buffer.from(await res.arrayBuffer());
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
