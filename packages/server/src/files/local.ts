import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ensurePrivateDir, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../config.js';
import { StreamHash } from './hashing.js';
import type { FileStore, StagedBlob } from './store.js';

/**
 * Local-directory file store. Layout: `blobs/ab/cd/<key>` for content, `staging/<key>.part` while
 * a write streams in, and `staging/<key>.pending` markers for blobs whose metadata is being written
 * or deleted (published but not yet confirmed, or retired but not yet removed).
 */
export class LocalFileStore implements FileStore {
  private readonly blobs: string;
  private readonly staging: string;

  constructor(root: string) {
    this.blobs = path.join(root, 'blobs');
    this.staging = path.join(root, 'staging');
    // Content is readable by the server's user only (config.ts); existing folders are narrowed too.
    ensurePrivateDir(root);
    ensurePrivateDir(this.blobs);
    ensurePrivateDir(this.staging);
  }

  pathOf(key: string): string {
    return path.join(this.blobs, key.slice(-2), key.slice(-4, -2), key);
  }

  private part(key: string): string {
    return path.join(this.staging, `${key}.part`);
  }

  private marker(key: string): string {
    return path.join(this.staging, `${key}.pending`);
  }

  async stage(key: string, source: Readable): Promise<StagedBlob> {
    const file = this.part(key);
    const hash = new StreamHash('sha384');
    let size = 0;
    const out = fs.createWriteStream(file, { flags: 'wx', mode: PRIVATE_FILE_MODE, highWaterMark: 1 << 20 });
    let sha384: string;
    try {
      await pipeline(
        source,
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            size += chunk.length;
            const full = hash.update(chunk);
            if (full) await full;
            yield chunk;
          }
        },
        out,
      );
      // A truncated multipart part ends without error in some parsers; they flag it instead.
      if ((source as Readable & { truncated?: boolean }).truncated) throw new Error('upload was truncated');
      const fh = await fsp.open(file, 'r');
      try {
        [sha384] = await Promise.all([hash.digest(), fh.sync()]);
      } finally {
        await fh.close();
      }
    } catch (err) {
      hash.abort();
      await fsp.rm(file, { force: true });
      throw err;
    }
    return { key, size, sha384 };
  }

  async publish(keys: string[]): Promise<void> {
    // The markers must be on disk before any blob is: a blob in place without one would outlive a crash
    // before the commit as an orphan nothing refers to.
    for (const key of keys) await fsp.writeFile(this.marker(key), '', { mode: PRIVATE_FILE_MODE });
    await syncDir(this.staging);
    const dirs = new Set<string>();
    for (const key of keys) {
      const dest = this.pathOf(key);
      const dir = path.dirname(dest);
      // A directory made here is durable only once its parent is synced too.
      const created = await fsp.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
      if (created) for (let d = dir; d.startsWith(created); d = path.dirname(d)) dirs.add(path.dirname(d));
      await fsp.rename(this.part(key), dest);
      dirs.add(dir);
    }
    for (const d of dirs) await syncDir(d);
    await syncDir(this.staging);
  }

  async confirm(keys: string[]): Promise<void> {
    for (const key of keys) await fsp.rm(this.marker(key), { force: true });
  }

  async discard(keys: string[]): Promise<void> {
    for (const key of keys) {
      await fsp.rm(this.part(key), { force: true });
      await fsp.rm(this.pathOf(key), { force: true });
      await fsp.rm(this.marker(key), { force: true });
    }
  }

  open(key: string, range?: { start: number; end: number }): Readable {
    return fs.createReadStream(this.pathOf(key), { ...(range ?? {}), highWaterMark: 1 << 20 });
  }

  async retire(keys: string[]): Promise<void> {
    for (const key of keys) await fsp.writeFile(this.marker(key), '', { mode: PRIVATE_FILE_MODE });
    await syncDir(this.staging);
  }

  async remove(keys: string[]): Promise<void> {
    for (const key of keys) {
      await fsp.rm(this.pathOf(key), { force: true });
      await fsp.rm(this.marker(key), { force: true });
    }
  }

  async recover(known: (keys: string[]) => Promise<Set<string>>): Promise<{ kept: number; removed: number }> {
    let kept = 0;
    let removed = 0;
    const entries = await fsp.readdir(this.staging);
    const pending: string[] = [];
    for (const name of entries) {
      if (name.endsWith('.part')) {
        await fsp.rm(path.join(this.staging, name), { force: true });
        removed++;
      } else if (name.endsWith('.pending')) pending.push(name.slice(0, -'.pending'.length));
    }
    if (pending.length) {
      const present = await known(pending);
      for (const key of pending) {
        if (present.has(key)) kept++;
        else {
          await fsp.rm(this.pathOf(key), { force: true });
          removed++;
        }
        await fsp.rm(this.marker(key), { force: true });
      }
    }
    return { kept, removed };
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
