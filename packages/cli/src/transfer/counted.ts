import fs from 'node:fs';

/** A file's bytes as they are read, reporting each chunk (progress of a streamed upload). */
export async function* countedRead(file: string, onBytes: (n: number) => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    onBytes((chunk as Buffer).length);
    yield chunk as Buffer;
  }
}
