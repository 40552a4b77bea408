import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3Fixture, sharedS3 } from '../../../test-fixtures/s3.js';
import { loadConfig } from '../src/config.js';
import { createFileStore, type FileStore } from '../src/files/store.js';
import { newId } from '../src/ids.js';

/**
 * The FileStore contract, run against every backend: the local directory and S3 (s3rver on
 * loopback). Each store gets a fresh root (a directory, or a prefix in the shared bucket), and
 * `visible()` lists everything the backend holds for it, staged, published or marked.
 */
interface Backend {
  store: FileStore;
  visible(): Promise<string[]>;
  /** Another store on the same root: what a restarted server opens. */
  reopen(): Promise<FileStore>;
}

let s3: S3Fixture;
const dirs: string[] = [];
beforeAll(async () => {
  s3 = await sharedS3();
});
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function localBackend(): Promise<Backend> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-store-'));
  dirs.push(dataDir);
  const open = () => createFileStore(loadConfig({ SPROCKET_DATA_DIR: dataDir }));
  const root = path.join(dataDir, 'files');
  return {
    store: await open(),
    reopen: open,
    async visible() {
      return fs
        .readdirSync(root, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
    },
  };
}

async function s3Backend(): Promise<Backend> {
  const prefix = `store-${newId()}`;
  const open = () => createFileStore(loadConfig({ SPROCKET_DATA_DIR: '/nonexistent', ...s3.env(prefix) }));
  return { store: await open(), reopen: open, visible: () => s3.list(prefix) };
}

const hex384 = (b: Buffer) => createHash('sha384').update(b).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Streams `size` bytes of a repeating random block, each MiB stamped with its index, hashing as it goes. */
function generated(size: number): { stream: Readable; sha384: () => string } {
  const hash = createHash('sha384');
  const block = randomBytes(1 << 20);
  const stream = Readable.from(
    (function* () {
      for (let off = 0, n = 0; off < size; off += block.length, n++) {
        const chunk = Buffer.from(block.subarray(0, Math.min(block.length, size - off)));
        chunk.writeUInt32LE(n, 0);
        hash.update(chunk);
        yield chunk;
      }
    })(),
  );
  return { stream, sha384: () => hash.digest('hex') };
}

/** `good` bytes, then the stream fails as a dropped connection does. */
function cutOff(good: number): Readable {
  return Readable.from(
    (async function* () {
      for (let off = 0; off < good; off += 1 << 20) yield randomBytes(Math.min(1 << 20, good - off));
      throw new Error('connection reset by peer');
    })(),
  );
}

const none = async () => new Set<string>();

describe.each([
  ['local', localBackend],
  ['s3', s3Backend],
] as const)('%s file store', (name, make) => {
  it('stages, publishes and confirms a blob whose content, size and sha-384 read back', async () => {
    const b = await make();
    const content = randomBytes(300_000);
    const key = newId();
    const staged = await b.store.stage(key, Readable.from([content.subarray(0, 1000), content.subarray(1000)]));
    expect(staged).toEqual({ key, size: content.length, sha384: hex384(content) });
    await b.store.publish([key]);
    await b.store.confirm([key]);
    expect((await readAll(b.store.open(key))).equals(content)).toBe(true);
    // After confirm only the content remains: a restart's recovery has nothing to ask about.
    expect(await b.visible()).toHaveLength(1);
    expect(await (await b.reopen()).recover(none)).toEqual({ kept: 0, removed: 0 });
    expect((await readAll(b.store.open(key))).equals(content)).toBe(true);
  });

  it('stores an empty blob', async () => {
    const b = await make();
    const key = newId();
    expect(await b.store.stage(key, Readable.from([]))).toEqual({ key, size: 0, sha384: hex384(Buffer.alloc(0)) });
    await b.store.publish([key]);
    await b.store.confirm([key]);
    expect((await readAll(b.store.open(key))).length).toBe(0);
  });

  it('reads byte ranges: the first byte, the middle, the last bytes, the whole', async () => {
    const b = await make();
    const content = randomBytes(100_000);
    const key = newId();
    await b.store.stage(key, Readable.from([content]));
    await b.store.publish([key]);
    await b.store.confirm([key]);
    for (const [start, end] of [
      [0, 0],
      [1234, 56_789],
      [99_996, 99_999],
      [0, 99_999],
    ] as const) {
      expect((await readAll(b.store.open(key, { start, end }))).equals(content.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
    }
  });

  it('streams a 21 MiB upload in parts with the right sha-384, readable whole and from the middle', { timeout: 120_000 }, async () => {
    const b = await make();
    const size = 21 * (1 << 20) + 4321;
    const src = generated(size);
    const key = newId();
    const staged = await b.store.stage(key, src.stream);
    const expected = src.sha384();
    expect(staged).toEqual({ key, size, sha384: expected });
    await b.store.publish([key]);
    await b.store.confirm([key]);
    const back = createHash('sha384');
    let n = 0;
    for await (const c of b.store.open(key)) {
      back.update(c as Buffer);
      n += (c as Buffer).length;
    }
    expect({ n, sha384: back.digest('hex') }).toEqual({ n: size, sha384: expected });
    // Across the boundary of the first two 8 MiB parts: the stamped MiB index 8 sits at offset 8 MiB.
    const mid = await readAll(b.store.open(key, { start: (8 << 20) - 2, end: (8 << 20) + 5 }));
    expect(mid.length).toBe(8);
    expect(mid.readUInt32LE(2)).toBe(8);
  });

  it('a stream cut off early, or after several parts went out, leaves nothing behind', { timeout: 120_000 }, async () => {
    const b = await make();
    await expect(b.store.stage(newId(), cutOff(100_000))).rejects.toThrow(/connection reset/);
    await expect(b.store.stage(newId(), cutOff(18 << 20))).rejects.toThrow(/connection reset/);
    expect(await b.visible()).toEqual([]);
  });

  it('a stream its parser flags as truncated is refused and leaves nothing behind', async () => {
    const b = await make();
    const src = Readable.from([Buffer.from('the first part of a file over the size limit')]) as Readable & { truncated?: boolean };
    src.truncated = true;
    await expect(b.store.stage(newId(), src)).rejects.toThrow(/truncated/);
    expect(await b.visible()).toEqual([]);
  });

  it('discard drops staged and published blobs whose metadata did not commit', async () => {
    const b = await make();
    const staged = newId();
    const published = newId();
    await b.store.stage(staged, Readable.from([Buffer.from('staged')]));
    await b.store.stage(published, Readable.from([Buffer.from('published')]));
    await b.store.publish([published]);
    await b.store.discard([staged, published]);
    expect(await b.visible()).toEqual([]);
  });

  it('after a crash with blobs staged or published but unconfirmed, recovery keeps exactly those the database knows', async () => {
    const b = await make();
    const [stagedOnly, committed, orphan] = [newId(), newId(), newId()];
    for (const k of [stagedOnly, committed, orphan]) await b.store.stage(k, Readable.from([Buffer.from(`content of ${k}`)]));
    await b.store.publish([committed, orphan]);
    // "Crash": the process is gone before confirm; a new one recovers, and only `committed` has a row.
    const asked: string[] = [];
    const restarted = await b.reopen();
    const result = await restarted.recover(async (keys) => {
      asked.push(...keys);
      return new Set(keys.filter((k) => k === committed));
    });
    expect(result.kept).toBe(1);
    expect(result.removed).toBe(2);
    expect((await readAll(restarted.open(committed))).toString()).toBe(`content of ${committed}`);
    expect(await b.visible()).toHaveLength(1);
    expect(await restarted.recover(none)).toEqual({ kept: 0, removed: 0 });
    expect(asked).toContain(orphan);
  });

  it('after a crash around a delete, recovery removes retired blobs whose rows are gone and keeps the rest', async () => {
    const b = await make();
    const [deleted, rolledBack, untouched] = [newId(), newId(), newId()];
    for (const k of [deleted, rolledBack, untouched]) await b.store.stage(k, Readable.from([Buffer.from(k)]));
    await b.store.publish([deleted, rolledBack, untouched]);
    await b.store.confirm([deleted, rolledBack, untouched]);
    await b.store.retire([deleted, rolledBack]);
    const restarted = await b.reopen();
    expect(await restarted.recover(async (keys) => new Set(keys.filter((k) => k !== deleted)))).toEqual({ kept: 1, removed: 1 });
    await expect(readAll(restarted.open(deleted))).rejects.toThrow();
    expect((await readAll(restarted.open(rolledBack))).toString()).toBe(rolledBack);
    expect((await readAll(restarted.open(untouched))).toString()).toBe(untouched);
    expect(await b.visible()).toHaveLength(2);
  });

  it('retire then remove deletes the content; retire then confirm calls it off', async () => {
    const b = await make();
    const [gone, kept] = [newId(), newId()];
    for (const k of [gone, kept]) await b.store.stage(k, Readable.from([Buffer.from(k)]));
    await b.store.publish([gone, kept]);
    await b.store.confirm([gone, kept]);
    await b.store.retire([gone, kept]);
    await b.store.remove([gone]);
    await b.store.confirm([kept]);
    expect(await b.visible()).toHaveLength(1);
    expect((await readAll(b.store.open(kept))).toString()).toBe(kept);
    expect(await (await b.reopen()).recover(none)).toEqual({ kept: 0, removed: 0 });
  });

  it('recovery asks the database in pages when many writes were interrupted', { timeout: 120_000 }, async () => {
    const b = await make();
    const keys = Array.from({ length: 1105 }, () => newId());
    await b.store.retire(keys);
    const pages: number[] = [];
    const result = await (await b.reopen()).recover(async (ks) => {
      pages.push(ks.length);
      return new Set(ks);
    });
    expect(result).toEqual({ kept: 1105, removed: 0 });
    expect(pages.reduce((a, n) => a + n, 0)).toBe(1105);
    // S3 lists markers a page at a time: each question stays within one listing page.
    if (name === 's3') expect(Math.max(...pages)).toBeLessThanOrEqual(1000);
    expect(await b.visible()).toEqual([]);
  });

  it('opening a blob that is not there fails the stream', async () => {
    const b = await make();
    await expect(readAll(b.store.open(newId()))).rejects.toThrow();
  });
});

describe('S3 store configuration', () => {
  it('refuses to start on a bucket that does not exist, naming the variable and the bucket', async () => {
    const env = { ...s3.env('x'), SPROCKET_STORAGE: 's3://no-such-bucket/x' };
    await expect(createFileStore(loadConfig({ SPROCKET_DATA_DIR: '/nonexistent', ...env }))).rejects.toThrow(
      /SPROCKET_STORAGE names bucket 'no-such-bucket' at http:\/\/127\.0\.0\.1:\d+, which cannot be used \(it does not exist\)/,
    );
  });

  it.each([
    [{ SPROCKET_STORAGE: 'file:///data' }, /SPROCKET_STORAGE must be 'local' or s3:\/\/bucket\/prefix/],
    [{ SPROCKET_STORAGE: 's3://ab/x' }, /SPROCKET_STORAGE names bucket 'ab'.*not a valid S3 bucket name/],
    [{ SPROCKET_STORAGE: 's3://Upper/x' }, /bucket 'Upper'/],
    [{ SPROCKET_STORAGE: 's3://bucket/a//b' }, /SPROCKET_STORAGE has prefix 'a\/\/b'/],
    [{ SPROCKET_STORAGE: 's3://bucket/a/../b' }, /'\.\.' segment/],
    [{ SPROCKET_STORAGE: 's3://bucket', AWS_ENDPOINT_URL: 'localhost:9000' }, /AWS_ENDPOINT_URL must be an http/],
    [{ SPROCKET_STORAGE: 's3://bucket', AWS_ENDPOINT_URL_S3: 'ftp://x' }, /AWS_ENDPOINT_URL_S3 must be an http/],
    [{ SPROCKET_STORAGE: 's3://bucket', AWS_ACCESS_KEY_ID: 'k' }, /AWS_SECRET_ACCESS_KEY must be set too/],
    [{ SPROCKET_STORAGE: 's3://bucket', SPROCKET_S3_FORCE_PATH_STYLE: 'maybe' }, /SPROCKET_S3_FORCE_PATH_STYLE must be true or false/],
  ])('rejects %o at start with a message naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('reads the bucket, prefix, endpoint, region and credentials; path style follows an endpoint unless told', () => {
    const base = { SPROCKET_STORAGE: 's3://my.bucket-1/lab/files/', AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret' };
    expect(loadConfig({ ...base, AWS_ENDPOINT_URL: 'http://127.0.0.1:9000', AWS_DEFAULT_REGION: 'eu-west-1' }).storage).toEqual({
      kind: 's3',
      bucket: 'my.bucket-1',
      prefix: 'lab/files',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'id', secretAccessKey: 'secret' },
    });
    const aws = loadConfig({ SPROCKET_STORAGE: 's3://bucket', AWS_REGION: 'us-west-2', AWS_DEFAULT_REGION: 'eu-west-1' }).storage;
    expect(aws).toMatchObject({ prefix: '', region: 'us-west-2', forcePathStyle: false, endpoint: undefined, credentials: undefined });
    expect(loadConfig({ SPROCKET_STORAGE: 's3://bucket', SPROCKET_S3_FORCE_PATH_STYLE: 'true' }).storage).toMatchObject({
      forcePathStyle: true,
    });
    expect(
      loadConfig({ ...base, AWS_ENDPOINT_URL: 'http://a:1', AWS_ENDPOINT_URL_S3: 'https://b:2', SPROCKET_S3_FORCE_PATH_STYLE: '0' })
        .storage,
    ).toMatchObject({ endpoint: 'https://b:2', forcePathStyle: false });
    expect(loadConfig({}).storage).toEqual({ kind: 'local' });
  });
});
