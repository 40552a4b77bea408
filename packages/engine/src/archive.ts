import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { parseMemory } from './resources.js';

/** Inside `root`, or an error naming the entry: an archive must not write anywhere else. */
function within(root: string, name: string): string {
  const target = path.resolve(root, name);
  if (target !== root && !target.startsWith(root + path.sep))
    throw new Error(`archive entry ${JSON.stringify(name)} points outside the gear`);
  return target;
}

/**
 * Walks (and with `create`, makes) the folders from `root` down to `dir` one at a time, refusing
 * any that is a link or a file. Links the archive made itself can chain (`a → d/..`, `b → a/..`)
 * to climb out of `root` while every link target looks inside it, so nothing is ever written or
 * copied through a link.
 */
async function walkFolders(root: string, dir: string, entry: string, create: boolean): Promise<void> {
  let at = root;
  for (const part of path.relative(root, dir).split(path.sep).filter(Boolean)) {
    at = path.join(at, part);
    const st = await fs.promises.lstat(at).catch(() => undefined);
    if (!st && create) await fs.promises.mkdir(at);
    else if (!st) throw new Error(`archive entry ${entry} refers to ${path.relative(root, at)}, which does not exist`);
    else if (!st.isDirectory())
      throw new Error(
        `archive entry ${entry} would go through ${st.isSymbolicLink() ? 'the link' : 'the file'} ${path.relative(root, at)}`,
      );
  }
}

/** How far a gear archive may expand in the engine (the server's SPROCKET_GEAR_ARCHIVE_* settings, same defaults). */
export interface ArchiveLimits {
  maxBytes: number;
  maxEntries: number;
}

export function archiveLimits(env: NodeJS.ProcessEnv = process.env): ArchiveLimits {
  const read = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = parseMemory(raw);
    if (!n) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
    return n;
  };
  return {
    maxBytes: read('SPROCKET_GEAR_ARCHIVE_MAX_BYTES', 4 * 1024 ** 3),
    maxEntries: read('SPROCKET_GEAR_ARCHIVE_MAX_ENTRIES', 100_000),
  };
}

/**
 * Extracts a gear's tar.gz into `dest` (created, must not exist). Expansion stops, with an error
 * naming the setting, once the members' bytes or count pass `limits`: a small archive must not
 * fill the engine's disk. Regular files keep their
 * permission bits (a gear's `run` must stay executable; set-id bits are dropped), folders and
 * links are recreated, and any entry or link that would reach outside `dest` fails the extraction.
 */
export async function extractTarGz(source: Readable, dest: string, limits: ArchiveLimits = archiveLimits()): Promise<void> {
  await fs.promises.mkdir(dest, { recursive: true });
  const root = await fs.promises.realpath(dest);
  const extract = tar.extract();
  const done = pipeline(source, createGunzip(), extract);
  let entries = 0;
  let written = 0;
  const tooBig = () => new Error(`the archive expands to more than ${limits.maxBytes} bytes (SPROCKET_GEAR_ARCHIVE_MAX_BYTES)`);
  // Declared sizes can lie (a pax header, a truncated member); the bytes themselves are counted too.
  const counted = () =>
    new Transform({
      transform(chunk: Buffer, _enc, cb) {
        written += chunk.length;
        cb(written > limits.maxBytes ? tooBig() : null, chunk);
      },
    });
  const consume = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      if (++entries > limits.maxEntries)
        throw new Error(`the archive has more than ${limits.maxEntries} members (SPROCKET_GEAR_ARCHIVE_MAX_ENTRIES)`);
      if (written + (h.size ?? 0) > limits.maxBytes) throw tooBig();
      const name = h.name.replace(/^(\.\/)+/, '');
      if (!name || name === '.' || name === './') {
        entry.resume();
        continue;
      }
      const target = within(root, name);
      const mode = (h.mode ?? 0o644) & 0o777;
      if (h.type === 'directory') {
        await walkFolders(root, target, name, true);
        entry.resume();
      } else if (h.type === 'file' || h.type === 'contiguous-file') {
        await walkFolders(root, path.dirname(target), name, true);
        // 'wx' also refuses to follow a link already standing at the target.
        await pipeline(entry, counted(), fs.createWriteStream(target, { mode, flags: 'wx' }));
        await fs.promises.chmod(target, mode);
      } else if (h.type === 'symlink') {
        const link = h.linkname ?? '';
        if (path.isAbsolute(link)) throw new Error(`archive link ${name} → ${link} is absolute`);
        within(root, path.join(path.dirname(name), link));
        await walkFolders(root, path.dirname(target), name, true);
        await fs.promises.symlink(link, target);
        entry.resume();
      } else if (h.type === 'link') {
        const source = within(root, (h.linkname ?? '').replace(/^(\.\/)+/, ''));
        await walkFolders(root, path.dirname(source), name, false);
        if (!(await fs.promises.lstat(source).catch(() => undefined))?.isFile())
          throw new Error(`archive entry ${name} links to ${h.linkname}, which is not a file of the archive`);
        await walkFolders(root, path.dirname(target), name, true);
        await fs.promises.copyFile(source, target, fs.constants.COPYFILE_EXCL);
        entry.resume();
      } else {
        // Devices, fifos and the like have no place in a gear; pax headers are handled by tar-stream.
        entry.resume();
      }
    }
  })().catch((err: unknown) => {
    // Stop inflating at once: the rest of the archive is never read.
    source.destroy();
    extract.destroy();
    throw err;
  });
  await Promise.all([done.catch((err: unknown) => consume.then(() => Promise.reject(err))), consume]);
}

/**
 * Where the gear's manifest sits in an extracted archive: at the top, or in the one folder an
 * archive made with `tar czf gear.tgz mygear/` has.
 */
export async function gearRoot(dir: string): Promise<string> {
  if (fs.existsSync(path.join(dir, 'manifest.json'))) return dir;
  const entries = (await fs.promises.readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('._'));
  if (entries.length === 1 && entries[0]!.isDirectory()) {
    const inner = path.join(dir, entries[0]!.name);
    if (fs.existsSync(path.join(inner, 'manifest.json'))) return inner;
  }
  throw new Error('the gear archive has no manifest.json');
}
