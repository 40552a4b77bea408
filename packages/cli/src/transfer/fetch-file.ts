import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Transport } from '@sprocket/sdk';
import { CliError } from '../errors.js';
import type { RateLimit } from './rate.js';

export interface RemoteFile {
  /** Plural route segment and id of the holding container. */
  cont: string;
  id: string;
  name: string;
  version: number;
  size: number;
  /** `v0-sha384-<hex>` as the API lists it. */
  hash: string;
}

export type FetchOutcome = 'complete' | 'resumed' | 'downloaded';

/** The sha384 hex of a listed hash (`v0-sha384-<hex>`), or undefined for other forms. */
export function sha384Of(hash: string | undefined): string | undefined {
  return /([0-9a-f]{96})$/.exec(hash ?? '')?.[1];
}

async function hashFile(file: string, h: Hash = createHash('sha384'), onBytes?: (n: number) => void): Promise<Hash> {
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    onBytes?.((chunk as Buffer).length);
  }
  return h;
}

/**
 * Where the bytes of a download in progress live: beside the target, named after the content hash,
 * so a rerun resumes only a download of the very same content.
 */
function partPath(target: string, sha: string | undefined, version: number): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${sha ? sha.slice(0, 16) : `v${version}`}.part`);
}

/** Part files of this target left from other content versions. */
async function staleParts(target: string, keep: string): Promise<string[]> {
  const dir = path.dirname(target);
  const prefix = `.${path.basename(target)}.`;
  const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
  return names
    .filter((n) => n.startsWith(prefix) && n.endsWith('.part'))
    .map((n) => path.join(dir, n))
    .filter((p) => p !== keep);
}

/**
 * Makes `target` hold exactly the remote file. A target already there with the right size and
 * sha384 is left alone; a part file from an interrupted run is continued with an HTTP Range request;
 * anything else is downloaded. The content is checked against the server's hash before it is
 * renamed into place, so the target never holds partial or wrong bytes.
 */
export async function fetchFile(
  transport: Transport,
  f: RemoteFile,
  target: string,
  onBytes: (n: number) => void = () => {},
  limit?: RateLimit,
): Promise<FetchOutcome> {
  const sha = sha384Of(f.hash);
  const st = await fs.promises.stat(target).catch(() => undefined);
  if (st?.isDirectory()) throw new CliError(`${target} is a directory where the file ${f.name} should go`);
  if (st && st.size === f.size && sha) {
    const local = (await hashFile(target)).digest('hex');
    if (local === sha) {
      onBytes(f.size);
      return 'complete';
    }
  }
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  const part = partPath(target, sha, f.version);
  for (const stale of await staleParts(target, part)) await fs.promises.rm(stale, { force: true });

  for (let attempt = 1; ; attempt++) {
    const have = (await fs.promises.stat(part).catch(() => undefined))?.size ?? 0;
    const resume = have > 0 && have < f.size;
    const hash = createHash('sha384');
    if (resume) await hashFile(part, hash, onBytes);
    else await fs.promises.rm(part, { force: true });
    const res = await transport.send('downloadFile', {
      params: { cont: f.cont, id: f.id, name: f.name },
      query: { version: f.version },
      headers: resume ? { Range: `bytes=${have}-` } : {},
      // A failed attempt is resumed by the next run from the part file, not retried blind here.
      retries: 0,
    });
    // A server that ignores the Range sends the whole file: start the part over.
    const append = resume && res.status === 206;
    if (resume && !append) onBytes(-have);
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        const pass = () => {
          hash.update(chunk);
          onBytes(chunk.length);
          cb(null, chunk);
        };
        if (limit) limit.take(chunk.length).then(pass, cb);
        else pass();
      },
    });
    const body = res.body ? Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>) : Readable.from([]);
    await pipeline(body, tap, fs.createWriteStream(part, { flags: append ? 'a' : 'w' }));
    const digest = hash.digest('hex');
    const size = (await fs.promises.stat(part)).size;
    if ((sha && digest !== sha) || size !== f.size) {
      await fs.promises.rm(part, { force: true });
      // A resumed prefix that no longer matches (the file was replaced in between) gets one fresh try.
      if (append && attempt === 1) {
        onBytes(-size);
        continue;
      }
      throw new CliError(
        `download of ${f.name} is corrupt: got ${size} bytes with sha384 ${digest.slice(0, 16)}…, the server lists ${f.size} bytes, ${sha?.slice(0, 16) ?? '?'}…`,
      );
    }
    await fs.promises.rename(part, target);
    return append ? 'resumed' : 'downloaded';
  }
}
