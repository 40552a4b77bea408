import fs from 'node:fs';
import { createRequire } from 'node:module';
import { type Readable, Transform } from 'node:stream';
import type YazlModule from 'yazl';
import type { RateLimit } from './rate.js';

export interface ZipMember {
  /** File on disk. */
  file: string;
  /** Name inside the zip. */
  name: string;
  size: number;
}

/** Loaded on first use, as only the import commands zip. */
let yazlModule: typeof YazlModule | undefined;
const yazl = (): typeof YazlModule => (yazlModule ??= createRequire(import.meta.url)('yazl') as typeof YazlModule);

/** A stable member time, so the same files always make the same zip. */
const MTIME = new Date('2000-01-01T00:00:00Z');

/**
 * The members zipped (deflate) as a stream: files are opened one at a time as the zip is read,
 * so a series of any size costs a few buffers of memory. `onBytes` counts source bytes read.
 */
export function zipStream(members: ZipMember[], onBytes: (n: number) => void = () => {}, limit?: RateLimit): Readable {
  const zip = new (yazl().ZipFile)();
  const out = zip.outputStream as Readable;
  for (const m of members) {
    zip.addReadStreamLazy(m.name, { mtime: MTIME, mode: 0o100644, compress: true, size: m.size }, (cb) => {
      const src = fs.createReadStream(m.file, { highWaterMark: limit ? 64 << 10 : 1 << 20 });
      const count = new Transform({
        transform(chunk: Buffer, _enc, done) {
          const pass = () => {
            onBytes(chunk.length);
            done(null, chunk);
          };
          if (limit) limit.take(chunk.length).then(pass, done);
          else pass();
        },
      });
      // yazl only watches the stream it is handed; a read error must end the zip, not vanish.
      src.on('error', (err) => out.destroy(err));
      cb(null, src.pipe(count));
    });
  }
  zip.on('error', (err: Error) => out.destroy(err));
  zip.end();
  return out;
}

/** Member names that are unique within one zip: the base name, numbered when two files share it. */
export function uniqueNames(files: string[], base: (f: string) => string): string[] {
  const taken = new Set<string>();
  return files.map((f) => {
    const name = base(f);
    let candidate = name;
    for (let n = 2; taken.has(candidate); n++) candidate = `${name}_${n}`;
    taken.add(candidate);
    return candidate;
  });
}
