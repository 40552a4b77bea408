import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PassThrough, type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type tar from 'tar-stream';
import { Refusal } from './archive.js';

/**
 * Container image archives uploaded with a gear (`POST /gears`, field `image`), for sites without a
 * registry: what `podman save` / `docker save` write (docker-archive: a tar, maybe gzipped, holding
 * manifest.json, the image configs and the layer tars). Checked as it streams into the file store:
 * bounded in size and members, names that stay inside it, a manifest.json whose images name their
 * config and layers among the members. The engine loads it into podman or unpacks it for charliecloud.
 */

const load = createRequire(import.meta.url);
let tarStream: typeof tar | undefined;

const MAX_MANIFEST_BYTES = 1024 * 1024;
const MAX_NAME_LENGTH = 1024;

/** Bounds on an image archive (SPROCKET_GEAR_IMAGE_MAX_BYTES, SPROCKET_GEAR_IMAGE_MAX_ENTRIES). */
export interface ImageArchiveLimits {
  /** Bytes as uploaded (compressed, when gzipped). */
  maxBytes: number;
  /** Members of the outer tar (the layers themselves are tars the engine bounds when it unpacks). */
  maxEntries: number;
}

export interface ImageArchiveCheck {
  /** `sha256:<hex>` of the bytes as uploaded: the engine fetches and checks it once per digest. */
  digest?: string;
  size?: number;
  /** The image names (RepoTags) the archive provides. */
  tags?: string[];
  problem?: string;
  tooLarge?: boolean;
}

function memberKey(name: string): string {
  const shown = JSON.stringify(name.slice(0, 200));
  if (name.length > MAX_NAME_LENGTH) throw new Refusal(`member ${shown}… has a name longer than ${MAX_NAME_LENGTH} characters`);
  if (name.includes('\0') || name.includes('\\')) throw new Refusal(`member ${shown} has a NUL or a backslash in its name`);
  if (name.startsWith('/')) throw new Refusal(`member ${shown} has an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new Refusal(`member ${shown} has a '..' in its path`);
  return parts.join('/');
}

/** Image names the manifest's images provide, after checking each names members the archive has. */
function manifestTags(text: string, members: Set<string>): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Refusal(`manifest.json is not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw new Refusal('manifest.json is not a list of images');
  const tags: string[] = [];
  parsed.forEach((raw, i) => {
    const e = raw as { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
    const at = `manifest.json[${i}]`;
    if (typeof e.Config !== 'string') throw new Refusal(`${at}.Config is not a member name`);
    if (!Array.isArray(e.Layers) || !e.Layers.length || !e.Layers.every((l) => typeof l === 'string'))
      throw new Refusal(`${at}.Layers is not a list of member names`);
    if (!Array.isArray(e.RepoTags) || !e.RepoTags.every((t) => typeof t === 'string' && t.length > 0 && t.length <= 256))
      throw new Refusal(`${at}.RepoTags is not a list of image names (save the image by name: podman save NAME:TAG)`);
    for (const m of [e.Config, ...(e.Layers as string[])]) {
      if (!members.has(memberKey(m))) throw new Refusal(`${at} names ${JSON.stringify(m)}, which the archive lacks`);
    }
    tags.push(...(e.RepoTags as string[]));
  });
  return tags;
}

/** The first bytes of a stream, put back: enough to tell a gzip from a plain tar. */
async function peek(source: Readable): Promise<Buffer | undefined> {
  for (;;) {
    const chunk = source.read() as Buffer | null;
    if (chunk) {
      source.unshift(chunk);
      return chunk;
    }
    if (source.readableEnded) return undefined;
    const ended = await new Promise<boolean>((resolve) => {
      const onReadable = () => done(false);
      const onEnd = () => done(true);
      const done = (v: boolean) => {
        source.off('readable', onReadable);
        source.off('end', onEnd);
        source.off('error', onEnd);
        resolve(v);
      };
      source.on('readable', onReadable);
      source.on('end', onEnd);
      source.on('error', onEnd);
    });
    if (ended) return undefined;
  }
}

/**
 * Reads an uploaded image archive and says what it provides, or what is wrong with it. Once it has
 * an answer it stops reading (`source` is destroyed; a tee into the store goes on without it); past
 * the size bound it calls `tooLarge()` first, for the caller to stop the upload itself.
 */
export async function checkImageArchive(source: Readable, limits: ImageArchiveLimits, tooLarge: () => void): Promise<ImageArchiveCheck> {
  tarStream ??= load('tar-stream') as typeof tar;
  const hash = createHash('sha256');
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      hash.update(chunk);
      if (size > limits.maxBytes) {
        tooLarge();
        done(new Refusal(`the image archive is larger than ${limits.maxBytes} bytes (SPROCKET_GEAR_IMAGE_MAX_BYTES)`, true));
        return;
      }
      done(null, chunk);
    },
  });
  // pipeline() reports the first error, then destroys every stream with it: none may crash the server for want of a listener.
  for (const stream of [source, counter]) stream.on('error', () => undefined);
  const members = new Set<string>();
  let manifest: string | undefined;
  let count = 0;
  const extract = tarStream.extract();
  extract.on('error', () => undefined);
  extract.on('entry', (header, stream, next) => {
    // Destroying the extraction destroys the member being read too, with the same error: reported once, by pipeline().
    stream.on('error', () => undefined);
    void (async () => {
      count++;
      if (count > limits.maxEntries)
        throw new Refusal(`the image archive has more than ${limits.maxEntries} members (SPROCKET_GEAR_IMAGE_MAX_ENTRIES)`, true);
      const key = memberKey(header.name);
      if (!['file', 'directory', 'symlink'].includes(header.type ?? ''))
        throw new Refusal(`member ${JSON.stringify(header.name)} is a ${header.type}, which an image archive does not hold`);
      if (header.type === 'symlink') {
        // docker/podman save link a layer's folder to its tar (`<id>/layer.tar -> ../<digest>.tar`):
        // relative, and it must stay inside the archive.
        const target = header.linkname ?? '';
        const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(key), target));
        if (target.startsWith('/') || resolved === '..' || resolved.startsWith('../'))
          throw new Refusal(`member ${JSON.stringify(header.name)} links outside the archive (${JSON.stringify(target)})`);
        members.add(key);
      }
      if (header.type === 'file') members.add(key);
      if (key === 'manifest.json' && header.type === 'file') {
        const parts: Buffer[] = [];
        let got = 0;
        for await (const c of stream as AsyncIterable<Buffer>) {
          got += c.length;
          if (got > MAX_MANIFEST_BYTES) throw new Refusal(`manifest.json is larger than ${MAX_MANIFEST_BYTES} bytes`);
          parts.push(c);
        }
        manifest = Buffer.concat(parts).toString('utf8');
      }
    })().then(
      () => {
        stream.resume();
        next();
      },
      (err: Error) => {
        stream.resume();
        extract.destroy(err);
      },
    );
  });
  try {
    const first = await peek(source);
    if (!first) throw new Refusal('the image archive is empty');
    const gzipped = first[0] === 0x1f && first[1] === 0x8b;
    const unzip = gzipped ? createGunzip() : new PassThrough();
    unzip.on('error', () => undefined);
    await pipeline(source, counter, unzip, extract);
  } catch (err) {
    const refusal =
      err instanceof Refusal ? err : new Refusal(`the image archive is not a tar (or tar.gz) archive: ${(err as Error).message}`);
    source.destroy();
    return { problem: refusal.message, tooLarge: refusal.tooLarge };
  }
  if (manifest === undefined) return { problem: "the image archive has no manifest.json: is it a 'podman save' / 'docker save' archive?" };
  try {
    return { digest: `sha256:${hash.digest('hex')}`, size, tags: manifestTags(manifest, members) };
  } catch (err) {
    if (err instanceof Refusal) return { problem: err.message };
    throw err;
  }
}

/** Podman names `localhost/x:1` what `docker save` may tag `x:1`; both spellings name one image. */
export function sameImage(a: string, b: string): boolean {
  const norm = (s: string) => {
    let n = s.includes(':', s.lastIndexOf('/') + 1) ? s : `${s}:latest`;
    if (!n.split('/')[0]!.includes('.') && !n.startsWith('localhost/')) n = n.includes('/') ? `docker.io/${n}` : `docker.io/library/${n}`;
    return n;
  };
  return norm(a) === norm(b);
}
