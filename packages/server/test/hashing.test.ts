import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { StreamHash } from '../src/files/hashing.js';

/** Feeds `data` in uneven chunks, waiting whenever the hash asks for it, as stage() does. */
async function feed(h: StreamHash, data: Buffer, seed: number): Promise<void> {
  let off = 0;
  let n = seed;
  while (off < data.length) {
    n = (n * 1103515245 + 12345) & 0x7fffffff;
    const len = Math.min(data.length - off, 1 + (n % 200_000));
    const chunk = data.subarray(off, off + len);
    const wait = h.update(chunk);
    if (wait) await wait;
    off += len;
  }
}

const sha = (b: Buffer) => createHash('sha384').update(b).digest('hex');

describe('upload hashing', () => {
  it('gives the same sha-384 as hashing inline, below, at and above the size where it moves to a thread', async () => {
    const threshold = 4 << 20;
    for (const size of [0, 1, threshold - 1, threshold, threshold + 1, (9 << 20) + 12345]) {
      const data = randomBytes(size);
      const h = new StreamHash('sha384');
      await feed(h, data, size);
      expect(await h.digest(), `size ${size}`).toBe(sha(data));
    }
  });

  it('copies what it is given, so a parser reusing its buffer cannot change the hash', async () => {
    const data = randomBytes(6 << 20);
    const scratch = Buffer.alloc(64 * 1024);
    const h = new StreamHash('sha384');
    for (let off = 0; off < data.length; off += scratch.length) {
      data.copy(scratch, 0, off, off + scratch.length);
      const wait = h.update(scratch);
      scratch.fill(0xee);
      if (wait) await wait;
    }
    expect(await h.digest()).toBe(sha(data));
  });

  it('keeps concurrent streams apart and carries on after one is abandoned mid-way', async () => {
    const inputs = [randomBytes(7 << 20), randomBytes(5 << 20), randomBytes(12 << 20)];
    const abandoned = new StreamHash('sha384');
    await feed(abandoned, randomBytes(6 << 20), 7);
    abandoned.abort();
    const digests = await Promise.all(
      inputs.map(async (data, i) => {
        const h = new StreamHash('sha384');
        await feed(h, data, i + 1);
        return h.digest();
      }),
    );
    expect(digests).toEqual(inputs.map(sha));
  });
});
