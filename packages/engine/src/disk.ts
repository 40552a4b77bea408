import fs from 'node:fs';
import path from 'node:path';

/** Bytes the files under `dir` take on disk (allocated blocks: a sparse file costs what it holds). */
export async function diskUsage(dir: string, skip: ReadonlySet<string> = new Set()): Promise<number> {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch {
    return 0; // removed meanwhile
  }
  for (const entry of entries) {
    if (skip.has(entry.name)) continue;
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await diskUsage(p);
    else {
      const st = await fs.promises.lstat(p).catch(() => undefined);
      if (st) total += st.blocks * 512;
    }
  }
  return total;
}

/** How often a running job's folder is measured. */
export const DISK_WATCH_MS = 2_000;

/**
 * Measures `dir` (but its top-level `skip` entries) every few seconds while a gear runs and calls
 * `over` once when it exceeds `limit` bytes. Returns the function that stops watching.
 */
export function watchDisk(
  dir: string,
  limit: number,
  over: (used: number) => void,
  skip: ReadonlySet<string> = new Set(),
  everyMs = DISK_WATCH_MS,
): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    const used = await diskUsage(dir, skip);
    if (stopped) return;
    if (used > limit) {
      stopped = true;
      over(used);
      return;
    }
    timer = setTimeout(tick, everyMs);
  };
  timer = setTimeout(tick, everyMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
