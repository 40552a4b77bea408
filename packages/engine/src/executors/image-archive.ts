import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { GEAR_BASE } from '@sprocket/types';
import tar from 'tar-stream';

/**
 * Image archives as `podman save` / `docker save` write them (docker-archive: a tar, maybe gzipped,
 * holding manifest.json, each image's config and its layer tars), unpacked into a directory image
 * for charliecloud, which has no image store of its own. Layers are applied in order with the OCI
 * whiteouts (`.wh.NAME` removes NAME below, `.wh..wh..opq` empties the folder below).
 */

/** How far an image may expand on the engine (SPROCKET_IMAGE_MAX_BYTES, SPROCKET_IMAGE_MAX_ENTRIES). */
export interface ImageLimits {
  maxBytes: number;
  maxEntries: number;
}

export interface DockerManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

const MAX_MANIFEST_BYTES = 1024 * 1024;

/** A member name as parts, refusing absolute names and `..`: nothing in an archive points outside it. */
function memberParts(name: string, where: string): string[] {
  if (name.startsWith('/')) throw new Error(`${where}: member ${JSON.stringify(name)} has an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new Error(`${where}: member ${JSON.stringify(name)} has a '..' in its path`);
  return parts;
}

/** A tar file as a stream, gunzipped when it starts with the gzip magic (both forms are common). */
async function openTar(file: string): Promise<[Readable, NodeJS.ReadWriteStream]> {
  const fd = await fs.promises.open(file, 'r');
  const magic = Buffer.alloc(2);
  try {
    await fd.read(magic, 0, 2, 0);
  } finally {
    await fd.close();
  }
  const raw = fs.createReadStream(file);
  const unzip = magic[0] === 0x1f && magic[1] === 0x8b ? createGunzip() : new PassThrough();
  // pipeline() reports the first error and destroys the rest with it: no second report may crash the engine.
  unzip.on('error', () => undefined);
  return [raw, unzip];
}

/** The archive's manifest.json, checked: every image names its config and layers as members. */
export function parseDockerManifest(text: string, members: Set<string>, where: string): DockerManifestEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: manifest.json is not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw new Error(`${where}: manifest.json is not a list of images`);
  return parsed.map((raw, i) => {
    const e = raw as Partial<DockerManifestEntry>;
    const at = `${where}: manifest.json[${i}]`;
    if (typeof e.Config !== 'string') throw new Error(`${at}.Config is not a member name`);
    if (!Array.isArray(e.Layers) || !e.Layers.every((l) => typeof l === 'string'))
      throw new Error(`${at}.Layers is not a list of member names`);
    if (e.RepoTags != null && (!Array.isArray(e.RepoTags) || !e.RepoTags.every((t) => typeof t === 'string')))
      throw new Error(`${at}.RepoTags is not a list of image names`);
    for (const m of [e.Config, ...e.Layers]) {
      if (!members.has(memberParts(m, at).join('/'))) throw new Error(`${at} names ${JSON.stringify(m)}, which the archive lacks`);
    }
    return { Config: e.Config, RepoTags: e.RepoTags ?? null, Layers: e.Layers };
  });
}

/** Podman names `localhost/x:1` what `docker save` may tag `x:1`; both spellings find the image. */
export function sameImage(a: string, b: string): boolean {
  const norm = (s: string) => {
    let n = s.includes(':', s.lastIndexOf('/') + 1) ? s : `${s}:latest`;
    if (!n.split('/')[0]!.includes('.') && !n.startsWith('localhost/')) n = n.includes('/') ? `docker.io/${n}` : `docker.io/library/${n}`;
    return n;
  };
  return norm(a) === norm(b);
}

/**
 * Copies the outer archive's members into `staging` (as numbered files) and returns where each
 * went with the parsed manifest: layers must be applied in manifest order, whatever order the tar has.
 */
async function stageMembers(
  archive: string,
  staging: string,
  limits: ImageLimits,
): Promise<{ manifest: DockerManifestEntry[]; files: Map<string, string> }> {
  const where = 'image archive';
  const files = new Map<string, string>();
  const links = new Map<string, string>();
  let manifestText: string | undefined;
  let bytes = 0;
  let count = 0;
  const extract = tar.extract();
  eachMember(extract, async (header, stream) => {
    count++;
    if (count > limits.maxEntries) throw new Error(`${where} has more than ${limits.maxEntries} members (SPROCKET_IMAGE_MAX_ENTRIES)`);
    const key = memberParts(header.name, where).join('/');
    if (header.type === 'symlink') {
      // `<id>/layer.tar -> ../<digest>.tar`, as docker and podman save write them.
      links.set(key, path.posix.normalize(path.posix.join(path.posix.dirname(key), header.linkname ?? '')));
      return;
    }
    if (header.type !== 'file') return;
    if (key === 'manifest.json') {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of stream as AsyncIterable<Buffer>) {
        size += c.length;
        if (size > MAX_MANIFEST_BYTES) throw new Error(`${where}: manifest.json is larger than ${MAX_MANIFEST_BYTES} bytes`);
        chunks.push(c);
      }
      manifestText = Buffer.concat(chunks).toString('utf8');
      return;
    }
    bytes += header.size ?? 0;
    if (bytes > limits.maxBytes) throw new Error(`${where} holds more than ${limits.maxBytes} bytes (SPROCKET_IMAGE_MAX_BYTES)`);
    const file = path.join(staging, String(files.size));
    files.set(key, file);
    await pipeline(stream, fs.createWriteStream(file, { flags: 'wx' }));
  });
  const [raw, unzip] = await openTar(archive);
  await pipeline(raw, unzip, extract);
  if (manifestText === undefined) throw new Error(`${where} has no manifest.json: is it a 'podman save' / 'docker save' archive?`);
  for (const [link, target] of links) {
    const file = files.get(target);
    if (file) files.set(link, file);
  }
  return { manifest: parseDockerManifest(manifestText, new Set([...files.keys()]), where), files };
}

/** Removes `target` whatever it is (a link itself, never what it points to). */
async function remove(target: string): Promise<void> {
  await fs.promises.rm(target, { recursive: true, force: true });
}

/**
 * Makes the folders from `root` down to `dir`, refusing to go through a link or a file: a layer
 * could otherwise plant `etc -> /etc` and write the host's files through it on the next member.
 */
export async function folders(root: string, parts: string[], entry: string): Promise<string> {
  let at = root;
  for (const part of parts) {
    at = path.join(at, part);
    const st = await fs.promises.lstat(at).catch(() => undefined);
    if (!st) await fs.promises.mkdir(at, { mode: 0o755 });
    else if (!st.isDirectory())
      throw new Error(
        `image layer member ${JSON.stringify(entry)} would go through ${st.isSymbolicLink() ? 'the link' : 'the file'} /${path.relative(root, at)}`,
      );
  }
  return at;
}

/** Applies one layer tar (maybe gzipped) over `root`. */
async function applyLayer(layer: string, root: string, limits: ImageLimits, budget: { bytes: number; entries: number }): Promise<void> {
  const where = 'image layer';
  // Paths this layer made: an opaque whiteout empties what the layers below left, not these.
  const made = new Set<string>();
  const extract = tar.extract();
  eachMember(extract, async (header, stream) => {
    budget.entries++;
    if (budget.entries > limits.maxEntries)
      throw new Error(`the image has more than ${limits.maxEntries} files (SPROCKET_IMAGE_MAX_ENTRIES)`);
    const parts = memberParts(header.name, where);
    if (!parts.length) return;
    const base = parts[parts.length - 1]!;
    const parent = await folders(root, parts.slice(0, -1), header.name);
    if (base === '.wh..wh..opq') {
      for (const child of await fs.promises.readdir(parent)) {
        const p = path.join(parent, child);
        if (!made.has(p)) await remove(p);
      }
      return;
    }
    if (base.startsWith('.wh.')) {
      await remove(path.join(parent, base.slice(4)));
      return;
    }
    const target = path.join(parent, base);
    const existing = await fs.promises.lstat(target).catch(() => undefined);
    // Set-id bits are dropped: nothing in an image may gain privileges on this host.
    const mode = (header.mode ?? 0o644) & 0o1777;
    if (header.type === 'directory') {
      if (existing && !existing.isDirectory()) await remove(target);
      if (!existing?.isDirectory()) await fs.promises.mkdir(target);
      // The engine must still be able to write below it while later members arrive.
      await fs.promises.chmod(target, mode | 0o700);
      made.add(target);
      return;
    }
    if (existing) await remove(target);
    made.add(target);
    if (header.type === 'file') {
      budget.bytes += header.size ?? 0;
      if (budget.bytes > limits.maxBytes)
        throw new Error(`the image expands to more than ${limits.maxBytes} bytes (SPROCKET_IMAGE_MAX_BYTES)`);
      await pipeline(stream, fs.createWriteStream(target, { flags: 'wx', mode }));
      await fs.promises.chmod(target, mode);
    } else if (header.type === 'symlink') {
      // Interpreted inside the container only: the engine never writes through links (see folders).
      await fs.promises.symlink(header.linkname ?? '', target);
    } else if (header.type === 'link') {
      const from = memberParts(header.linkname ?? '', where);
      const source = path.join(await folders(root, from.slice(0, -1), header.name), from[from.length - 1] ?? '');
      const st = await fs.promises.lstat(source).catch(() => undefined);
      if (!st?.isFile())
        throw new Error(`${where}: hard link ${JSON.stringify(header.name)} names ${JSON.stringify(header.linkname)}, which is no file`);
      await fs.promises.link(source, target);
    }
    // Devices and fifos: a container gets its own /dev, and nothing else needs them.
  });
  const [raw, unzip] = await openTar(layer);
  await pipeline(raw, unzip, extract);
}

/**
 * Unpacks image `image` of a docker-archive into the directory image `dest` (replaced when it
 * exists, only once the new one is complete, so a running gear never sees half an image).
 */
export async function unpackImage(archive: string, image: string, dest: string, limits: ImageLimits): Promise<void> {
  const work = `${dest}.partial-${process.pid}-${Date.now()}`;
  const staging = `${work}-members`;
  await fs.promises.mkdir(staging, { recursive: true });
  try {
    const { manifest, files } = await stageMembers(archive, staging, limits);
    const entry =
      manifest.find((m) => (m.RepoTags ?? []).some((t) => sameImage(t, image))) ?? (manifest.length === 1 ? manifest[0] : undefined);
    if (!entry)
      throw new Error(
        `the image archive does not hold ${image} (it has ${manifest.flatMap((m) => m.RepoTags ?? []).join(', ') || 'untagged images'})`,
      );
    await fs.promises.mkdir(work, { mode: 0o755 });
    const budget = { bytes: 0, entries: 0 };
    for (const layer of entry.Layers) await applyLayer(files.get(memberParts(layer, 'image archive').join('/'))!, work, limits, budget);
    // ch-run binds the job directory here, and a bind target must already exist in the image.
    await folders(work, GEAR_BASE.split('/').filter(Boolean), GEAR_BASE);
    await fs.promises.chmod(work, 0o755);
    const old = `${dest}.old-${process.pid}-${Date.now()}`;
    await fs.promises.rename(dest, old).catch(() => undefined);
    await fs.promises.rename(work, dest);
    await remove(old);
  } catch (err) {
    await remove(work);
    throw err;
  } finally {
    await remove(staging);
  }
}

type MemberArgs = tar.ExtractEvents['entry'];

/**
 * Runs `handle` on each member in turn; a member it leaves unread is skipped, and its failure ends
 * the extraction with that error (reported once, by the pipeline: the member's own stream dies with it).
 */
function eachMember(extract: tar.Extract, handle: (header: MemberArgs[0], stream: MemberArgs[1]) => Promise<void>): void {
  extract.on('entry', (header, stream, next) => {
    stream.on('error', () => undefined);
    handle(header, stream).then(
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
}
