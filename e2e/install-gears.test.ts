import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabaseUrl, startTestServer, type TestServer } from '../packages/server/test/helpers.js';
import { buildGears } from '../scripts/build-gears.js';
import { installShippedGears, keyForUrl, shippedGears } from '../scripts/install-gears.js';
import { freePort, type Spawned, spawnCaptured } from '../test-fixtures/processes.js';

/**
 * First-start gear install: the gears in gears/ reach a new site through the ordinary
 * `POST /gears`, once per version, both from the installer and from `npm start` itself.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SHIPPED = shippedGears();

let s: TestServer;
beforeAll(async () => {
  await buildGears();
  s = await startTestServer();
});
afterAll(async () => {
  await s?.stop();
});

async function lookupGear(api: TestServer['admin'], name: string, version?: string) {
  return api.post('/lookup', { path: ['gears', name, ...(version ? [version] : [])] });
}

describe('scripts/install-gears.ts', () => {
  it('uploads each shipped gear a site lacks, then leaves them alone', async () => {
    expect(SHIPPED.map((g) => g.name)).toEqual(expect.arrayContaining(['dcm2niix', 'nifti-qa']));
    const apiKey = fs.readFileSync(path.join(s.dataDir, 'admin-api-key'), 'utf8').trim();
    const first = await installShippedGears({ apiKey });
    expect(first.failed).toEqual([]);
    expect(first.installed.map((g) => g.name).sort()).toEqual(SHIPPED.map((g) => g.name).sort());

    for (const gear of SHIPPED) {
      const found = await lookupGear(s.admin, gear.name);
      expect(found.status).toBe(200);
      expect(found.body.gear.name).toBe(gear.name);
      expect(found.body.gear.version).toBe(gear.version);
      // The archive is the gear folder with its built bundle: what the engine will run.
      const manifest = JSON.parse(fs.readFileSync(path.join(gear.dir, 'manifest.json'), 'utf8'));
      expect(found.body.gear.inputs).toEqual(manifest.inputs);
    }
    expect((await s.admin.get('/gears/' + (await lookupGear(s.admin, 'dcm2niix')).body._id)).body.category).toBe('converter');

    const again = await installShippedGears({ apiKey });
    expect(again.installed).toEqual([]);
    expect(again.present.map((g) => g.name).sort()).toEqual(SHIPPED.map((g) => g.name).sort());
    const all = (await s.admin.get('/gears?all_versions=true')).body as { gear: { name: string } }[];
    for (const gear of SHIPPED) expect(all.filter((g) => g.gear.name === gear.name)).toHaveLength(1);
  });

  it('refuses a gear name it does not ship', () => {
    expect(() => shippedGears(undefined, ['no-such-gear'])).toThrow(/no shipped gear named no-such-gear/);
  });

  it('points a stored key at the address the server has now', () => {
    expect(keyForUrl('127.0.0.1:8080:__force_insecure:abc\n', 'http://10.0.0.5:9000/api')).toBe('10.0.0.5:9000:__force_insecure:abc');
    expect(keyForUrl('127.0.0.1:8080:__force_insecure:abc', 'https://lab.example.org/api')).toBe('lab.example.org:443:abc');
  });
});

/** `npm start` without its build step (done above) and without an engine. */
function start(env: NodeJS.ProcessEnv): Spawned {
  return spawnCaptured(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'start.ts')], { cwd: ROOT, env });
}

async function until(what: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await what().catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

describe('npm start', () => {
  it('installs the shipped gears on first start, and only then', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-start-'));
    const databaseUrl = await freshDatabaseUrl();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SPROCKET_DATA_DIR: dataDir,
      SPROCKET_PORT: String(await freePort()),
      SPROCKET_HOST: '127.0.0.1',
      SPROCKET_START_ENGINE: 'false',
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    };
    delete env.SPROCKET_PUBLIC_URL;
    const base = `http://127.0.0.1:${env.SPROCKET_PORT}/api`;
    const gearNames = async (key: string) => {
      const r = await fetch(`${base}/gears?all_versions=true`, { headers: { Authorization: `scitran-user ${key}` } });
      return r.ok
        ? ((await r.json()) as { gear: { name: string; version: string } }[]).map((g) => `${g.gear.name} ${g.gear.version}`).sort()
        : [];
    };
    const expected = SHIPPED.map((g) => `${g.name} ${g.version}`).sort();
    try {
      let run = start(env);
      const keyFile = path.join(dataDir, 'admin-api-key');
      let ok = await until(
        async () => fs.existsSync(keyFile) && (await gearNames(fs.readFileSync(keyFile, 'utf8').trim())).length === expected.length,
        60_000,
      );
      expect(ok, run.output()).toBe(true);
      const key = fs.readFileSync(keyFile, 'utf8').trim();
      expect(await gearNames(key)).toEqual(expected);
      expect(run.output()).toContain('[start] installed gear dcm2niix');
      expect(await run.stop()).toBe(0);

      // A restart finds them and uploads nothing.
      run = start(env);
      ok = await until(async () => run.output().includes('shipped gears already installed'), 60_000);
      expect(ok, run.output()).toBe(true);
      expect(await gearNames(key)).toEqual(expected);
      expect(run.output()).not.toContain('] installed gear');
      expect(await run.stop()).toBe(0);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
