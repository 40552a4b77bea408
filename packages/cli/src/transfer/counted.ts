import fs from 'node:fs';
import type { RateLimit } from './rate.js';

/** A file's bytes as they are read, reporting each chunk (progress of a streamed upload). */
export async function* countedRead(file: string, onBytes: (n: number) => void, limit?: RateLimit): AsyncGenerator<Uint8Array> {
  for await (const chunk of fs.createReadStream(file, { highWaterMark: limit ? 64 << 10 : 1 << 20 })) {
    await limit?.take((chunk as Buffer).length);
    onBytes((chunk as Buffer).length);
    yield chunk as Buffer;
  }
}
