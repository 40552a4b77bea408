import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';

/** Inside `root`, or an error naming the entry: an archive must not write anywhere else. */
function within(root: string, name: string): string {
  const target = path.resolve(root, name);
  if (target !== root && !target.startsWith(root + path.sep)) throw new Error(`archive entry ${JSON.stringify(name)} points outside the gear`);
  return target;
}

/** Refuses to write through a link the archive itself created earlier. */
async function assertRealParents(root: string, target: string): Promise<void> {
  const parent = path.dirname(target);
  const real = await fs.promises.realpath(parent);
  if (real !== root && !real.startsWith(root + path.sep)) throw new Error(`archive entry ${path.relative(root, target)} would be written through a link`);
}

/**
 * Extracts a gear's tar.gz into `dest` (created, must not exist). Regular files keep their
 * permission bits (a gear's `run` must stay executable; set-id bits are dropped), folders and
 * links are recreated, and any entry or link that would reach outside `dest` fails the extraction.
 */
export async function extractTarGz(source: Readable, dest: string): Promise<void> {
  await fs.promises.mkdir(dest, { recursive: true });
  const root = await fs.promises.realpath(dest);
  const extract = tar.extract();
  const done = pipeline(source, createGunzip(), extract);
  const consume = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const name = h.name.replace(/^(\.\/)+/, '');
      if (!name || name === '.' || name === './') {
        entry.resume();
        continue;
      }
      const target = within(root, name);
      const mode = (h.mode ?? 0o644) & 0o777;
      if (h.type === 'directory') {
        await fs.promises.mkdir(target, { recursive: true });
        entry.resume();
      } else if (h.type === 'file' || h.type === 'contiguous-file') {
        await fs.promises.mkdir(path.dirname(target), { recursive: true });
        await assertRealParents(root, target);
        await pipeline(entry, fs.createWriteStream(target, { mode, flags: 'wx' }));
        await fs.promises.chmod(target, mode);
      } else if (h.type === 'symlink') {
        const link = h.linkname ?? '';
        if (path.isAbsolute(link)) throw new Error(`archive link ${name} → ${link} is absolute`);
        within(root, path.join(path.dirname(name), link));
        await fs.promises.mkdir(path.dirname(target), { recursive: true });
        await assertRealParents(root, target);
        await fs.promises.symlink(link, target);
        entry.resume();
      } else if (h.type === 'link') {
        const source = within(root, (h.linkname ?? '').replace(/^(\.\/)+/, ''));
        await fs.promises.mkdir(path.dirname(target), { recursive: true });
        await assertRealParents(root, target);
        await fs.promises.copyFile(source, target);
        entry.resume();
      } else {
        // Devices, fifos and the like have no place in a gear; pax headers are handled by tar-stream.
        entry.resume();
      }
    }
  })();
  await Promise.all([done, consume]);
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
