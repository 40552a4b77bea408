import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addGear, gearArchive, manifest, uploadArchive } from './gear-kit.js';
import { type Api, makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

// The manifests are the project's own copies; SOURCES.md beside them says where each came from.
const FIXTURES = path.resolve(import.meta.dirname, '../../../test-fixtures/gear-manifests');
const fixtureFiles = fs
  .readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .sort();

/** SOURCES.md: refused (they break the spec schema), with the JSON path each message must name. */
const REFUSED: Record<string, string> = {
  'flywheel-io__gears__examples__invalid-default-optional.json': 'manifest.config.special',
  'scitran-apps__nifti-montage.json': 'manifest.config.tile_size.type',
  'scitran-apps__dwi-split-shells.json': 'manifest.name',
};
/** SOURCES.md: accepted with a warning naming the key. */
const WARNED: Record<string, string[]> = {
  'flywheel-apps__dicom-send.json': ['manifest.config.port.default'],
  'flywheel-apps__pydeface-gear.json': ['manifest.config.nocleanup.default', 'manifest.config.verbose.default'],
};

let s: TestServer;
let dev: Api;
let plain: Api;
beforeAll(async () => {
  s = await startTestServer();
  dev = await makeUser(s, 'dev@lab.org', ['developer']);
  plain = await makeUser(s, 'plain@lab.org');
});
afterAll(async () => {
  await s?.stop();
});

describe('gear manifests: the real fixtures', () => {
  it('has the 42 fixtures, 3 of them refused', () => {
    expect(fixtureFiles).toHaveLength(42);
    for (const f of Object.keys(REFUSED)) expect(fixtureFiles).toContain(f);
  });

  it.each(fixtureFiles)('%s', async (file) => {
    const text = fs.readFileSync(path.join(FIXTURES, file), 'utf8');
    const r = await uploadArchive(dev, await gearArchive(undefined, { manifestText: text }));
    const expectRefused = file in REFUSED || /(^|__)invalid-/.test(file);
    if (expectRefused) {
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.message).toContain(REFUSED[file] ?? 'manifest.');
      return;
    }
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const m = JSON.parse(text);
    expect(r.body.gear).toEqual(m);
    expect(r.body.warnings ?? []).toHaveLength((WARNED[file] ?? []).length);
    for (const w of WARNED[file] ?? []) expect(r.body.warnings.join('\n')).toContain(w);
    // Several fixtures share name and version (the spec examples): each is removed after its check.
    expect((await s.admin.del(`/gears/${r.body._id}`)).status).toBe(200);
  });
});

describe('gear upload', () => {
  it('needs the developer or site_admin role', async () => {
    const m = manifest();
    const r = await uploadArchive(plain, await gearArchive(m));
    expect(r.status).toBe(403);
    expect(r.body.message).toMatch(/developer or site_admin/);
    expect((await uploadArchive(s.anon, await gearArchive(m))).status).toBe(401);
    expect((await uploadArchive(dev, await gearArchive(m))).status).toBe(200);
  });

  it('refuses a second upload of the same name and version (409)', async () => {
    const m = manifest();
    expect((await uploadArchive(dev, await gearArchive(m))).status).toBe(200);
    const again = await uploadArchive(s.admin, await gearArchive({ ...m, label: 'changed' }));
    expect(again.status).toBe(409);
    expect(again.body.message).toMatch(/already exists/);
    expect((await uploadArchive(dev, await gearArchive({ ...m, version: '1.0.1' }))).status).toBe(200);
  });

  it('stores the gear document in Flywheel shape and serves the archive byte for byte', async () => {
    const m = manifest({ custom: { 'gear-builder': { category: 'qa', image: 'sprocket/test:1.0' } }, command: './run --fast' });
    const archive = await gearArchive(m, { files: { 'lib.sh': 'echo lib\n' } });
    const doc = ok(await uploadArchive(dev, archive));
    expect(Object.keys(doc).sort()).toEqual(['_id', 'category', 'created', 'exchange', 'gear', 'modified']);
    expect(doc).toMatchObject({ category: 'qa', gear: m });
    expect(doc.gear.custom['gear-builder'].image).toBe('sprocket/test:1.0');
    expect(doc.exchange['rootfs-hash']).toMatch(/^sha384:[0-9a-f]{96}$/);
    expect(doc.exchange['rootfs-url']).toBe(`/api/gears/${doc._id}/archive`);
    expect((await s.admin.get(`/gears/${doc._id}`)).body).toEqual(doc);
    const got = await plain.bytes(`/gears/${doc._id}/archive`);
    expect(got.status).toBe(200);
    expect(got.data.equals(archive)).toBe(true);
  });

  it('takes the category from the manifest, else the form field, else converter', async () => {
    const fromManifest = ok(
      await uploadArchive(dev, await gearArchive(manifest({ custom: { 'gear-builder': { category: 'analysis' } } })), { category: 'qa' }),
    );
    expect(fromManifest.category).toBe('analysis');
    expect(ok(await uploadArchive(dev, await gearArchive(manifest()), { category: 'classifier' })).category).toBe('classifier');
    expect(ok(await uploadArchive(dev, await gearArchive(manifest()))).category).toBe('converter');
    const bad = await uploadArchive(dev, await gearArchive(manifest()), { category: 'magic' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/category.*magic/);
  });

  it('accepts manifest.json inside one top-level folder', async () => {
    const m = manifest();
    const doc = ok(await uploadArchive(dev, await gearArchive(m, { folder: 'my-gear' })));
    expect(doc.gear.name).toBe(m.name);
  });

  it('refuses archives that are not a gear, naming the problem', async () => {
    const notGz = await uploadArchive(dev, Buffer.from('plain text, not an archive'));
    expect(notGz.status).toBe(400);
    expect(notGz.body.message).toMatch(/not a gzip-compressed tar/);
    const noManifest = await uploadArchive(dev, await gearArchiveWithout());
    expect(noManifest.status).toBe(400);
    expect(noManifest.body.message).toMatch(/no manifest\.json/);
    const badJson = await uploadArchive(dev, await gearArchive(undefined, { manifestText: '{"name": ' }));
    expect(badJson.status).toBe(400);
    expect(badJson.body.message).toMatch(/not valid JSON/);
    const missing = await uploadArchive(dev, await gearArchive({ ...manifest(), license: 'WTFPL', url: 'not a uri', author: undefined }));
    expect(missing.status).toBe(400);
    expect(missing.body.message).toContain('manifest.author: is required');
    expect(missing.body.message).toContain('manifest.license: must be an OSI-approved SPDX license id');
    expect(missing.body.message).toContain('manifest.url: must be a URI or the empty string');
    const extra = await uploadArchive(dev, await gearArchive({ ...manifest(), colour: 'blue' }));
    expect(extra.body.message).toContain('manifest.colour: is not allowed here (additionalProperties: false)');
    const badInput = await uploadArchive(dev, await gearArchive(manifest({ inputs: { key: { base: 'api-key', 'read-only': 'yes' } } })));
    expect(badInput.body.message).toContain('manifest.inputs.key.read-only: must be of type boolean');
    const badBase = await uploadArchive(dev, await gearArchive(manifest({ inputs: { x: { base: 'folder' } } })));
    expect(badBase.body.message).toContain('manifest.inputs.x.base: must be one of "file", "context", "api-key"');
    const badRes = await uploadArchive(dev, await gearArchive(manifest({ custom: { sprocket: { resources: { memory: 'lots' } } } })));
    expect(badRes.body.message).toContain('manifest.custom.sprocket.resources.memory');
  });
});

async function gearArchiveWithout(): Promise<Buffer> {
  const tar = await import('tar-stream');
  const { gzipSync } = await import('node:zlib');
  const pack = tar.default.pack();
  pack.entry({ name: 'run' }, '#!/bin/bash\n');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

describe('gear listing, lookup, invocation and suggestions', () => {
  let name: string;
  let v1: string;
  let v2: string;
  beforeAll(async () => {
    const m = manifest({
      inputs: {
        dicom: { base: 'file', type: { enum: ['dicom'] } },
        notes: { base: 'file', optional: true, name: { pattern: '\\.txt$' } },
        license: { base: 'context' },
      },
      config: {
        level: { type: 'integer', minimum: 1, maximum: 5, default: 2, description: 'how hard' },
        tag: { type: 'string', optional: true },
      },
    });
    name = m.name;
    v1 = await addGear(dev, m);
    await new Promise((r) => setTimeout(r, 5));
    v2 = await addGear(dev, { ...m, version: '2.0.0' });
  });

  it('lists the latest version of each gear, or every version', async () => {
    const latest = ok(await plain.get(`/gears?filter=gear.name=${name}`));
    expect(latest.map((g: any) => g._id)).toEqual([v2]);
    const all = ok(await plain.get(`/gears?all_versions=true&filter=gear.name=${name}`));
    expect(all.map((g: any) => g._id).sort()).toEqual([v1, v2].sort());
    const everything = ok(await plain.get('/gears?all_versions=true'));
    const latestOnly = ok(await plain.get('/gears'));
    expect(latestOnly.length).toBeLessThan(everything.length);
    expect(new Set(latestOnly.map((g: any) => g.gear.name)).size).toBe(latestOnly.length);
    const page = await plain.get('/gears?limit=2', { 'X-Accept-Feature': 'pagination' });
    expect(page.body.results).toHaveLength(2);
    expect(page.body.total).toBe(latestOnly.length);
    const single = ok(await plain.get('/gears?filter=single_input'));
    expect(single.map((g: any) => g._id)).toContain(v2);
    expect((await plain.get('/gears?filter=nonsense')).status).toBe(400);
  });

  it('resolves gears/<name> and gears/<name>/<version> through /lookup', async () => {
    expect(ok(await plain.post('/lookup', { path: `gears/${name}` }))._id).toBe(v2);
    expect(ok(await plain.post('/lookup', { path: ['gears', name, '1.0.0'] }))._id).toBe(v1);
    expect((await plain.post('/lookup', { path: `gears/${name}/9.9` })).status).toBe(404);
  });

  it('serves the invocation schema (gear spec §1.7)', async () => {
    const inv = ok(await plain.get(`/gears/${v1}/invocation`));
    expect(inv).toMatchObject({
      $schema: 'http://json-schema.org/draft-04/schema#',
      type: 'object',
      required: ['config', 'inputs'],
      properties: {
        config: {
          type: 'object',
          properties: { level: { type: 'integer', minimum: 1, maximum: 5, default: 2 }, tag: { type: 'string' } },
          required: ['level'],
        },
        inputs: {
          type: 'object',
          properties: {
            dicom: { type: 'object', properties: { type: { enum: ['dicom'] } } },
            notes: { type: 'object', properties: { name: { pattern: '\\.txt$' } } },
            license: { type: 'object', required: ['base', 'found', 'value'] },
          },
          required: ['dicom', 'license'],
        },
      },
    });
    expect(inv.properties.config.properties.level.description).toBeUndefined();
  });

  it('suggests which files fit each input', async () => {
    const h = await makeHierarchy(s.admin);
    ok(
      await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [
        { name: 'scan.dcm', content: 'DICM' },
        { name: 'notes.txt', content: 'hi' },
      ]),
    );
    const r = ok(await s.admin.get(`/gears/${v1}/suggest/acquisitions/${h.acquisition}`));
    const byName = Object.fromEntries(r.files.map((f: any) => [f.name, f.suggested]));
    expect(byName['scan.dcm']).toEqual({ dicom: true, notes: false });
    expect(byName['notes.txt']).toEqual({ dicom: false, notes: true });
    const sess = ok(await s.admin.get(`/gears/${v1}/suggest/session/${h.session}`));
    expect(sess.children.map((c: any) => c._id)).toEqual([h.acquisition]);
    // Containers the caller cannot see stay invisible.
    expect((await plain.get(`/gears/${v1}/suggest/acquisitions/${h.acquisition}`)).status).toBe(404);
  });

  it('deletes gears (site admin only)', async () => {
    const id = await addGear(dev, manifest());
    expect((await dev.del(`/gears/${id}`)).status).toBe(403);
    expect((await s.admin.del(`/gears/${id}`)).status).toBe(200);
    expect((await plain.get(`/gears/${id}`)).status).toBe(404);
  });
});
