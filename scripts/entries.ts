import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * How the compiled server and engine are started: one definition for `npm start`, the packed-package
 * check and the benchmarks, so what is measured is what runs.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The server's bundle (scripts/build.ts `bundleServer`), not its file-by-file library build. */
export const SERVER_ENTRY = path.join(root, 'packages/server/dist/bundle/main.js');
export const ENGINE_ENTRY = path.join(root, 'packages/engine/dist/main.js');

/**
 * V8's young generation starts at 2 × 1 MiB and grows only as objects survive it. The file-by-file
 * build grew it to 2 × 16 MiB while loading its ~700 modules; the bundle starts up allocating far
 * less, so a 1.6 MB listing page then ran through a tiny young generation, promoting its rows into
 * the old one: 40 % more CPU per 250-item page (GC 19 % of samples against 7 %). Starting it at
 * 2 × 8 MiB brings the page back to the file-by-file figure (CPU per request within noise) and
 * costs no idle memory, as the pages stay untouched until used (`npm run bench:startup`).
 */
export const SERVER_NODE_FLAGS = ['--min-semi-space-size=8'];

/** argv after `node` for the compiled server, or for another build of it (`entry`, a benchmark's baseline). */
export function serverArgs(entry: string = SERVER_ENTRY): string[] {
  return [...SERVER_NODE_FLAGS, entry];
}
