import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

/** What a run leaves in a gear folder; none of it belongs in the gear. */
export const RUN_LEFTOVERS = new Set(['input', 'output', 'work', 'config.json']);
const NEVER = new Set(['.git', 'node_modules/.cache']);

/**
 * Packs a gear folder as the tar.gz `POST /gears` takes: its content at the top (manifest.json
 * first), modes kept so `run` stays executable, symlinks as links, run leftovers and .git left out.
 */
export async function packGear(dir: string, out: string): Promise<{ files: number; bytes: number }> {
  // Loaded here, not at start-up: only this command packs tars.
  const { default: tar } = await import('tar-stream');
  const pack = tar.pack();
  const entries: string[] = [];
  const walk = async (rel: string) => {
    const abs = path.join(dir, rel);
    const list = (await fs.promises.readdir(abs, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of list) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if ((!rel && RUN_LEFTOVERS.has(e.name)) || NEVER.has(r)) continue;
      entries.push(r);
      if (e.isDirectory()) await walk(r);
    }
  };
  await walk('');
  entries.sort((a, b) => Number(b === 'manifest.json') - Number(a === 'manifest.json'));
  const done = pipeline(pack, createGzip(), fs.createWriteStream(out));
  let files = 0;
  let bytes = 0;
  for (const rel of entries) {
    const abs = path.join(dir, rel);
    const st = await fs.promises.lstat(abs);
    const header = { name: rel, mode: st.mode & 0o7777, mtime: st.mtime };
    if (st.isSymbolicLink()) pack.entry({ ...header, type: 'symlink', linkname: await fs.promises.readlink(abs) });
    else if (st.isDirectory()) pack.entry({ ...header, type: 'directory' });
    else if (st.isFile()) {
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ ...header, size: st.size }, (err) => (err ? reject(err) : resolve()));
        fs.createReadStream(abs).on('error', reject).pipe(sink);
      });
      files++;
      bytes += st.size;
    }
  }
  pack.finalize();
  await done;
  return { files, bytes };
}
