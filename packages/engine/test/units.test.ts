import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { ApiError } from '@sprocket/sdk';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { extractTarGz, gearRoot } from '../src/archive.js';
import { parseKey } from '../src/client.js';
import { GearCache } from '../src/layout.js';
import { JobLog } from '../src/logs.js';
import { collectOutputs } from '../src/outputs.js';
import { parseMemory } from '../src/resources.js';
import { packGear, tempDir } from './helpers.js';

async function tarGz(
  entries: { name: string; type?: 'file' | 'symlink' | 'link' | 'directory'; content?: string; linkname?: string; mode?: number }[],
): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type === 'symlink' || e.type === 'link') pack.entry({ name: e.name, type: e.type, linkname: e.linkname });
    else if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory' });
    else pack.entry({ name: e.name, mode: e.mode ?? 0o644 }, e.content ?? '');
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

describe('engine keys', () => {
  it('tell the API address', () => {
    expect(parseKey('127.0.0.1:8080:__force_insecure:s3cret')).toEqual({ apiUrl: 'http://127.0.0.1:8080/api', secret: 's3cret' });
    expect(parseKey('fw.example.org:443:s3cret')).toEqual({ apiUrl: 'https://fw.example.org:443/api', secret: 's3cret' });
    expect(parseKey('fw.example.org:s3cret')).toEqual({ apiUrl: 'https://fw.example.org:443/api', secret: 's3cret' });
    expect(() => parseKey('s3cret')).toThrow(/host/);
  });
});

describe('resource requests', () => {
  it('read memory sizes in binary units', () => {
    expect(parseMemory('2G')).toBe(2 * 1024 ** 3);
    expect(parseMemory('512m')).toBe(512 * 1024 ** 2);
    expect(parseMemory('1.5Gi')).toBe(1.5 * 1024 ** 3);
    expect(parseMemory('256MB')).toBe(256 * 1024 ** 2);
    expect(parseMemory('1048576')).toBe(1048576);
    expect(parseMemory('lots')).toBeUndefined();
  });
});

describe('gear archives', () => {
  it('extract with permissions, from a flat archive or one with a top folder', async () => {
    const flat = tempDir();
    await extractTarGz(Readable.from(packGear('echo-config')), flat);
    expect(await gearRoot(flat)).toBe(flat);
    expect(fs.statSync(path.join(flat, 'run')).mode & 0o111).not.toBe(0);
    const nested = tempDir();
    await extractTarGz(
      Readable.from(
        await tarGz([
          { name: 'mygear/manifest.json', content: '{}' },
          { name: 'mygear/run', content: '#!/bin/bash', mode: 0o4755 },
        ]),
      ),
      nested,
    );
    expect(await gearRoot(nested)).toBe(path.join(nested, 'mygear'));
    expect(fs.statSync(path.join(nested, 'mygear', 'run')).mode & 0o7777).toBe(0o755);
  });

  it('refuse entries and links that reach outside the gear', async () => {
    const cases = [
      [{ name: '../evil', content: 'x' }],
      [{ name: '/tmp/evil-abs', content: 'x' }],
      [{ name: 'etc', type: 'symlink' as const, linkname: '/etc' }],
      [{ name: 'up', type: 'symlink' as const, linkname: '../..' }],
      [
        { name: 'sub', type: 'directory' as const },
        { name: 'sub/up', type: 'symlink' as const, linkname: '../../..' },
      ],
    ];
    for (const entries of cases) {
      const dir = tempDir();
      await expect(extractTarGz(Readable.from(await tarGz(entries)), path.join(dir, 'gear'))).rejects.toThrow(/outside|link/);
      expect(fs.existsSync(path.join(dir, 'evil'))).toBe(false);
      expect(fs.existsSync(path.join(dir, 'escape'))).toBe(false);
    }
    expect(fs.existsSync('/tmp/evil-abs')).toBe(false);
  });

  it('never write through links the archive made, even when each link target looks inside', async () => {
    // `up → d/..` is the gear folder itself, so `out → up/..` is its parent: a chain climbs out.
    const chain = [
      { name: 'manifest.json', content: 'from the archive' },
      { name: 'd', type: 'directory' as const },
      { name: 'up', type: 'symlink' as const, linkname: 'd/..' },
      { name: 'out', type: 'symlink' as const, linkname: 'up/../victim' },
    ];
    const cases = [
      [...chain, { name: 'out', type: 'link' as const, linkname: 'manifest.json' }],
      [...chain, { name: 'out', content: 'x' }],
      [...chain, { name: 'up/victim-dir', type: 'directory' as const }],
      [...chain, { name: 'copy', type: 'link' as const, linkname: 'up/../victim' }],
    ];
    for (const entries of cases) {
      const dir = tempDir();
      fs.writeFileSync(path.join(dir, 'victim'), 'original');
      await expect(extractTarGz(Readable.from(await tarGz(entries)), path.join(dir, 'gear'))).rejects.toThrow(/outside|link|exists/);
      expect(fs.readFileSync(path.join(dir, 'victim'), 'utf8')).toBe('original');
      expect(fs.existsSync(path.join(dir, 'victim-dir'))).toBe(false);
      expect(fs.existsSync(path.join(dir, 'gear', 'copy'))).toBe(false);
    }
  });

  it('keep hard links inside the archive as copies', async () => {
    const dir = tempDir();
    await extractTarGz(
      Readable.from(
        await tarGz([
          { name: 'manifest.json', content: '{}' },
          { name: 'bin/run', content: '#!/bin/bash' },
          { name: 'run', type: 'link', linkname: 'bin/run' },
        ]),
      ),
      dir,
    );
    expect(fs.readFileSync(path.join(dir, 'run'), 'utf8')).toBe('#!/bin/bash');
  });

  it('without a manifest are refused', async () => {
    const dir = tempDir();
    await extractTarGz(Readable.from(await tarGz([{ name: 'run', content: '#!/bin/bash' }])), dir);
    await expect(gearRoot(dir)).rejects.toThrow(/no manifest.json/);
  });
});

/** A tar.gz streamed from `members` files of `size` zero bytes each, built without holding it in memory. */
async function zeroBomb(members: number, size: number): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const gz = pack.pipe(createGzip({ level: 9 }));
  gz.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise((r) => gz.on('end', r));
  pack.entry({ name: 'manifest.json' }, '{}');
  const block = Buffer.alloc(1024 * 1024);
  for (let m = 0; m < members; m++) {
    await new Promise<void>((resolve, reject) => {
      const entry = pack.entry({ name: `blob-${m}`, size }, (err) => (err ? reject(err) : resolve()));
      for (let left = size; left > 0; left -= block.length) entry.write(block.subarray(0, Math.min(left, block.length)));
      (entry as NodeJS.WritableStream).end();
    });
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

describe('gear archive expansion in the engine', () => {
  it('stops a small archive that inflates past SPROCKET_GEAR_ARCHIVE_MAX_BYTES, writing no more than the bound', async () => {
    const bomb = await zeroBomb(1, 128 * 1024 ** 2);
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const dest = path.join(tempDir(), 'gear');
    await expect(extractTarGz(Readable.from(bomb), dest, { maxBytes: 16 * 1024 ** 2, maxEntries: 100 })).rejects.toThrow(
      'the archive expands to more than 16777216 bytes (SPROCKET_GEAR_ARCHIVE_MAX_BYTES)',
    );
    const written = fs.readdirSync(dest).reduce((sum, f) => sum + fs.statSync(path.join(dest, f)).size, 0);
    expect(written).toBeLessThanOrEqual(16 * 1024 ** 2);
  });

  it('refuses an archive with more members than SPROCKET_GEAR_ARCHIVE_MAX_ENTRIES', async () => {
    const many = await tarGz([
      { name: 'manifest.json', content: '{}' },
      ...Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, content: 'x' })),
    ]);
    await expect(extractTarGz(Readable.from(many), path.join(tempDir(), 'gear'), { maxBytes: 1024 ** 2, maxEntries: 10 })).rejects.toThrow(
      'the archive has more than 10 members (SPROCKET_GEAR_ARCHIVE_MAX_ENTRIES)',
    );
  });
});

describe('gear cache', () => {
  const archives: Record<string, Buffer> = {};
  const client = { stream: async (uri: string) => Readable.from(archives[uri]!) };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('removes the least recently used gears past SPROCKET_GEAR_CACHE_MAX, never a pinned one', async () => {
    // Incompressible content: each gear costs ~300 KiB on disk.
    for (const g of ['a', 'b', 'c', 'd'])
      archives[g] = await tarGz([
        { name: 'manifest.json', content: '{}' },
        { name: 'data', content: randomBytes(150 * 1024).toString('hex') },
      ]);
    const dir = tempDir();
    const cache = new GearCache(client as never, dir, 700 * 1024);
    await cache.get('a', 'a');
    await sleep(20);
    await cache.get('b', 'b');
    await sleep(20);
    await cache.get('a', 'a'); // used again: b is now the oldest
    await sleep(20);
    await cache.get('c', 'c');
    expect(fs.readdirSync(dir).sort()).toEqual(['a', 'c']);

    // A gear a job is laying out from stays, even as the oldest.
    cache.pin('a');
    await sleep(20);
    await cache.get('d', 'd');
    expect(fs.readdirSync(dir).sort()).toEqual(['a', 'd']);
    cache.unpin('a');
    expect(await cache.prune()).toEqual([]);
  });
});

describe('outputs', () => {
  it('are every regular file under output/, flattened, with .metadata.json apart and links left out', async () => {
    const out = tempDir();
    fs.mkdirSync(path.join(out, 'a', 'b'), { recursive: true });
    fs.writeFileSync(path.join(out, 'top.txt'), 'top');
    fs.writeFileSync(path.join(out, 'a', 'b', 'deep.txt'), 'deep!');
    fs.writeFileSync(path.join(out, 'a', 'top.txt'), 'clash');
    fs.writeFileSync(path.join(out, '.metadata.json'), '{"acquisition":{}}');
    fs.symlinkSync('/etc/passwd', path.join(out, 'passwd'));
    const collected = await collectOutputs(out);
    expect(collected.files.map((f) => [f.name, path.relative(out, f.path), f.size])).toEqual([
      ['top.txt', 'top.txt', 3],
      ['deep.txt', 'a/b/deep.txt', 5],
    ]);
    expect(collected.metadata).toBe('{"acquisition":{}}');
    expect(collected.metadataError).toBeUndefined();
    expect(collected.totalBytes).toBe(8);
    expect(collected.notes).toEqual([
      'output passwd is not a regular file (symbolic link); not saved',
      'output a/top.txt has the same name as top.txt once sub-folders are flattened; only top.txt is saved',
    ]);
  });

  it('with a malformed .metadata.json say why', async () => {
    const out = tempDir();
    fs.writeFileSync(path.join(out, '.metadata.json'), '{nope');
    expect((await collectOutputs(out)).metadataError).toMatch(/^output\/.metadata.json is not valid JSON/);
    fs.writeFileSync(path.join(out, '.metadata.json'), '[1]');
    expect((await collectOutputs(out)).metadataError).toBe('output/.metadata.json is not a JSON object');
  });
});

describe('job log', () => {
  it('splits output into lines across chunks and characters, and sends a heartbeat with nothing to say', async () => {
    const sent: { fd: number; msg: string }[][] = [];
    const sink = {
      logs: async (_id: string, lines: { fd: number; msg: string }[]) => {
        sent.push(lines);
        return { state: 'running' };
      },
    };
    const log = new JobLog(sink, 'job1', { intervalMs: 60_000 });
    await log.flush();
    expect(sent).toEqual([[]]);
    const euro = Buffer.from('€');
    log.stdout(Buffer.concat([Buffer.from('one\ntw'), euro.subarray(0, 1)]));
    log.stdout(Buffer.concat([euro.subarray(1), Buffer.from('o\nthree')]));
    log.stderr(Buffer.from('err\n'));
    log.system('engine says');
    await log.close();
    expect(sent.flat()).toEqual([
      { fd: 1, msg: 'one' },
      { fd: 1, msg: 'tw€o' },
      { fd: 2, msg: 'err' },
      { fd: -1, msg: 'engine says' },
      { fd: 1, msg: 'three' },
    ]);
  });

  it('keeps lines through a failed send and reports a state other than running', async () => {
    const sent: string[] = [];
    let fail = true;
    const states: string[] = [];
    const log = new JobLog(
      {
        logs: async (_id, lines) => {
          if (fail) throw new TypeError('fetch failed');
          sent.push(...lines.map((l) => l.msg));
          return { state: 'cancelled' };
        },
      },
      'job1',
      { intervalMs: 60_000, onState: (s) => states.push(s) },
    );
    log.system('first');
    await log.flush();
    fail = false;
    log.system('second');
    await log.flush();
    expect(sent).toEqual(['first', 'second']);
    expect(states).toEqual(['cancelled']);
    log.abandon();
  });

  it('learns why the server closed the log (409 on lines) from an empty heartbeat, so a cancel stays a cancel', async () => {
    const states: string[] = [];
    const calls: number[] = [];
    const log = new JobLog(
      {
        logs: async (_id, lines) => {
          calls.push(lines.length);
          if (lines.length)
            throw new ApiError(
              409,
              'HTTP_409',
              'job job1 is cancelled; its log takes lines only while it runs',
              'POST',
              'http://api/jobs/job1/logs',
            );
          return { state: 'cancelled' };
        },
      },
      'job1',
      { intervalMs: 60_000, onState: (s) => states.push(s) },
    );
    log.system('buffered when the cancel landed');
    await log.flush();
    expect(calls).toEqual([1, 0]);
    expect(states).toEqual(['cancelled']);
    log.abandon();
  });
});
