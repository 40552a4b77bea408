import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/helpers.js';
import { unpackImage } from '../src/executors/image-archive.js';
import { engineKey } from './engines.js';
import { packGear, tempDir } from './helpers.js';

type Member = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; content?: string; linkname?: string; mode?: number };

function tarOf(members: Member[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => chunks.push(c as Buffer));
  const done = new Promise<Buffer>((resolve) => pack.on('end', () => resolve(Buffer.concat(chunks))));
  for (const m of members) {
    const header = { name: m.name, type: m.type ?? 'file', mode: m.mode ?? (m.type === 'directory' ? 0o755 : 0o644), linkname: m.linkname };
    if ((m.type ?? 'file') === 'file') pack.entry(header, m.content ?? '');
    else pack.entry(header);
  }
  pack.finalize();
  return done;
}

/** A docker-archive of `layers` (each a list of members) tagged `image`, as podman save writes one. */
async function dockerArchive(file: string, image: string, layers: Member[][], gzip = false): Promise<void> {
  const outer: Member[] = [];
  const names: string[] = [];
  for (const [i, layer] of layers.entries()) {
    const body = await tarOf(layer);
    names.push(`${i}/layer.tar`);
    outer.push({ name: `blob${i}.tar`, content: (gzip ? gzipSync(body) : body).toString('latin1') });
    outer.push({ name: `${i}/layer.tar`, type: 'symlink', linkname: `../blob${i}.tar` });
  }
  outer.push({ name: 'config.json', content: '{}' });
  outer.push({ name: 'manifest.json', content: JSON.stringify([{ Config: 'config.json', RepoTags: [image], Layers: names }]) });
  // Contents travel as latin1 strings so binary layers survive tarOf.
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => chunks.push(c as Buffer));
  const done = new Promise<Buffer>((resolve) => pack.on('end', () => resolve(Buffer.concat(chunks))));
  for (const m of outer) {
    if (m.type === 'symlink') pack.entry({ name: m.name, type: 'symlink', linkname: m.linkname });
    else pack.entry({ name: m.name }, Buffer.from(m.content ?? '', 'latin1'));
  }
  pack.finalize();
  fs.writeFileSync(file, await done);
}

const LIMITS = { maxBytes: 1024 * 1024, maxEntries: 1000 };
const IMAGE = 'localhost/unpack-test:1';

describe('image archives unpacked for charliecloud', () => {
  it('applies the layers in order with whiteouts, opaque folders, links and no set-id bits', async () => {
    const dir = tempDir();
    const archive = path.join(dir, 'image.tar');
    await dockerArchive(
      archive,
      IMAGE,
      [
        [
          { name: 'usr/bin/tool', content: 'v1', mode: 0o4755 },
          { name: 'etc/gone.conf', content: 'old' },
          { name: 'opt/app/', type: 'directory' },
          { name: 'opt/app/old.py', content: 'old' },
          { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
        ],
        [
          { name: 'usr/bin/tool', content: 'v2', mode: 0o4755 },
          { name: 'usr/bin/same', type: 'link', linkname: 'usr/bin/tool' },
          { name: 'etc/.wh.gone.conf' },
          { name: 'opt/app/new.py', content: 'new' },
          { name: 'opt/app/.wh..wh..opq' },
        ],
      ],
      true,
    );
    const dest = path.join(dir, 'store', 'localhost%unpack-test+1');
    fs.mkdirSync(path.dirname(dest));
    await unpackImage(archive, IMAGE, dest, LIMITS);
    expect(fs.readFileSync(path.join(dest, 'usr/bin/tool'), 'utf8')).toBe('v2');
    expect(fs.statSync(path.join(dest, 'usr/bin/tool')).mode & 0o7777).toBe(0o755);
    expect(fs.statSync(path.join(dest, 'usr/bin/same')).ino).toBe(fs.statSync(path.join(dest, 'usr/bin/tool')).ino);
    expect(fs.existsSync(path.join(dest, 'etc/gone.conf'))).toBe(false);
    // The opaque marker empties what lower layers left in opt/app, not what this layer put there.
    expect(fs.readdirSync(path.join(dest, 'opt/app'))).toEqual(['new.py']);
    expect(fs.readlinkSync(path.join(dest, 'bin'))).toBe('usr/bin');
    expect(fs.statSync(path.join(dest, 'flywheel/v0')).isDirectory()).toBe(true);
    // Replacing it with a new digest leaves one complete image and nothing half-made beside it.
    await unpackImage(archive, IMAGE, dest, LIMITS);
    expect(fs.readdirSync(path.dirname(dest))).toEqual(['localhost%unpack-test+1']);
  });

  it('refuses members that would write outside the image, through a link or with ..', async () => {
    const dir = tempDir();
    const outside = path.join(dir, 'outside');
    fs.mkdirSync(outside);
    const cases: [Member[][], RegExp][] = [
      [[[{ name: 'etc', type: 'symlink', linkname: outside }], [{ name: 'etc/passwd', content: 'x' }]], /would go through the link \/etc/],
      [[[{ name: '../escape', content: 'x' }]], /has a '\.\.' in its path/],
      [[[{ name: '/abs', content: 'x' }]], /has an absolute path/],
      [
        [
          [
            { name: 'a', content: 'x' },
            { name: 'b', type: 'link', linkname: '../../etc/passwd' },
          ],
        ],
        /has a '\.\.' in its path/,
      ],
    ];
    for (const [layers, error] of cases) {
      const archive = path.join(dir, 'bad.tar');
      await dockerArchive(archive, IMAGE, layers);
      const dest = path.join(dir, 'img');
      await expect(unpackImage(archive, IMAGE, dest, LIMITS)).rejects.toThrow(error);
      expect(fs.existsSync(dest)).toBe(false);
      expect(fs.readdirSync(outside)).toEqual([]);
      expect(fs.readdirSync(dir).filter((n) => n.startsWith('img'))).toEqual([]);
    }
  });

  it('stops at the size and file-count bounds, naming the setting', async () => {
    const dir = tempDir();
    const archive = path.join(dir, 'big.tar');
    await dockerArchive(archive, IMAGE, [[{ name: 'big', content: 'x'.repeat(4096) }]]);
    await expect(unpackImage(archive, IMAGE, path.join(dir, 'a'), { maxBytes: 4000, maxEntries: 100 })).rejects.toThrow(
      /SPROCKET_IMAGE_MAX_BYTES/,
    );
    const many = path.join(dir, 'many.tar');
    await dockerArchive(many, IMAGE, [Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, content: '' }))]);
    await expect(unpackImage(many, IMAGE, path.join(dir, 'b'), { maxBytes: 1e6, maxEntries: 10 })).rejects.toThrow(
      /SPROCKET_IMAGE_MAX_ENTRIES/,
    );
    await expect(unpackImage(many, 'localhost/other:2', path.join(dir, 'c'), LIMITS)).resolves.toBeUndefined();
    const notOne = path.join(dir, 'plain.tar');
    fs.writeFileSync(notOne, await tarOf([{ name: 'hello.txt', content: 'hi' }]));
    await expect(unpackImage(notOne, IMAGE, path.join(dir, 'd'), LIMITS)).rejects.toThrow(/has no manifest\.json/);
  });
});

describe('GET /gears/{id}/image', () => {
  let server: TestServer;
  let gearId: string;
  let archive: Buffer;
  const gearsDir = tempDir('sprocket-image-route-');

  beforeAll(async () => {
    server = await startTestServer();
    const dir = path.join(gearsDir, 'imaged');
    fs.mkdirSync(dir);
    fs.writeFileSync(
      path.join(dir, 'manifest.json'),
      JSON.stringify({
        name: 'imaged',
        label: 'imaged',
        description: 'd',
        version: '1.0.0',
        author: 'a',
        license: 'MIT',
        url: '',
        source: '',
        config: {},
        inputs: {},
        custom: { 'gear-builder': { image: IMAGE } },
      }),
    );
    const file = path.join(gearsDir, 'image.tar');
    await dockerArchive(file, IMAGE, [[{ name: 'usr/bin/x', content: 'x' }]]);
    archive = fs.readFileSync(file);
    const form = new FormData();
    form.append('file', new Blob([packGear('imaged', gearsDir)]), 'imaged.tar.gz');
    form.append('image', new Blob([archive]), 'image.tar');
    const res = await fetch(`${server.url}/gears`, {
      method: 'POST',
      headers: { Authorization: `scitran-user ${server.admin.key}` },
      body: form,
    });
    const body = (await res.json()) as { _id: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    gearId = body._id;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('serves the archive as uploaded with its digest and image name; HEAD the headers alone; 404 without one', async () => {
    const got = await server.admin.bytes(`/gears/${gearId}/image`);
    expect(got.status).toBe(200);
    expect(got.data.equals(archive)).toBe(true);
    const { createHash } = await import('node:crypto');
    expect(got.headers.get('x-image-digest')).toBe(`sha256:${createHash('sha256').update(archive).digest('hex')}`);
    expect(got.headers.get('x-image-name')).toBe(IMAGE);
    const head = await fetch(`${server.url}/gears/${gearId}/image`, {
      method: 'HEAD',
      headers: { Authorization: `scitran-user ${server.admin.key}` },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(archive.length));
    const plain = (await server.admin.upload('/gears', [{ name: 'noop.tar.gz', content: new Blob([packGear('noop')]) }])).body._id;
    expect((await server.admin.get(`/gears/${plain}/image`)).status).toBe(404);
  });

  it('is closed to an engine key unless one of its running jobs uses the gear', async () => {
    const key = await engineKey(server.admin, 'image route engine');
    const secret = key.split(':').pop();
    const res = await fetch(`${server.url}/gears/${gearId}/image`, {
      method: 'HEAD',
      headers: { Authorization: `scitran-user ${secret}` },
    });
    expect(res.status).toBe(403);
  });

  it('goes with its gear when the gear is deleted', async () => {
    expect((await server.admin.del(`/gears/${gearId}`)).status).toBe(200);
    expect((await server.admin.get(`/gears/${gearId}/image`)).status).toBe(404);
  });
});
