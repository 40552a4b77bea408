/**
 * Installs the gears shipped in gears/ (dcm2niix, nifti-qa) on a site that lacks them, so a new
 * site can run them at once. `npm start` calls it once the API answers; it can also be run by hand:
 *
 *   npx tsx scripts/install-gears.ts [--key <admin key>] [gear …]
 *
 * A gear is uploaded exactly as a user's `sprocket gear upload` does it: its folder (with the built
 * dist/) packed as tar.gz by the CLI's packer and sent to `POST /gears` with a site admin's key. A
 * gear whose name and version the site already has is left alone, so restarts upload nothing and
 * a new release of Sprocket adds its new gear versions beside the old ones.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ApiError, Client } from '@sprocket/sdk';
import { packGear } from '../packages/cli/src/gears/pack.js';

export const GEARS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'gears');

export interface ShippedGear {
  name: string;
  version: string;
  dir: string;
}

export interface InstallResult {
  installed: ShippedGear[];
  present: ShippedGear[];
  /** Gears that could not be installed, with the reason. */
  failed: { gear: ShippedGear; reason: string }[];
}

/** The gear folders under `gearsDir` (those with a manifest.json), optionally only the named ones. */
export function shippedGears(gearsDir = GEARS_DIR, only?: string[]): ShippedGear[] {
  const gears: ShippedGear[] = [];
  for (const entry of fs.readdirSync(gearsDir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const manifestFile = path.join(gearsDir, entry.name, 'manifest.json');
    if (!entry.isDirectory() || !fs.existsSync(manifestFile)) continue;
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as { name: string; version: string };
    if (only?.length && !only.includes(manifest.name)) continue;
    gears.push({ name: manifest.name, version: manifest.version, dir: path.join(gearsDir, entry.name) });
  }
  if (only?.length) {
    const missing = only.filter((n) => !gears.some((g) => g.name === n));
    if (missing.length) throw new Error(`no shipped gear named ${missing.join(', ')} in ${gearsDir}`);
  }
  return gears;
}

/**
 * The admin key re-pointed at `publicUrl`: the key file names the address the server had when it
 * was written, which a later SPROCKET_PORT or SPROCKET_HOST may have changed.
 */
export function keyForUrl(storedKey: string, publicUrl: string): string {
  const secret = storedKey.trim().split(':').pop() ?? '';
  const url = new URL(publicUrl);
  const secure = url.protocol === 'https:';
  const port = url.port || (secure ? '443' : '80');
  return `${url.hostname}:${port}:${secure ? '' : '__force_insecure:'}${secret}`;
}

async function present(fw: Client, gear: ShippedGear): Promise<boolean> {
  try {
    await fw.lookup(['gears', gear.name, gear.version]);
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return false;
    throw e;
  }
}

export async function installShippedGears(opts: {
  apiKey: string;
  gearsDir?: string;
  only?: string[];
  log?: (msg: string) => void;
}): Promise<InstallResult> {
  const log = opts.log ?? (() => {});
  const fw = new Client(opts.apiKey);
  const result: InstallResult = { installed: [], present: [], failed: [] };
  const tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'sprocket-install-gears-'));
  try {
    for (const gear of shippedGears(opts.gearsDir, opts.only)) {
      if (await present(fw, gear)) {
        result.present.push(gear);
        continue;
      }
      // The run script execs dist/run.mjs; a folder packed without it would fail every job.
      if (!fs.existsSync(path.join(gear.dir, 'dist', 'run.mjs'))) {
        const reason = `${path.join(gear.dir, 'dist', 'run.mjs')} is missing: run 'npm run build:gears' first`;
        result.failed.push({ gear, reason });
        log(`gear ${gear.name} ${gear.version} not installed: ${reason}`);
        continue;
      }
      const archive = path.join(tmp, `${gear.name}-${gear.version}.tar.gz`);
      await packGear(gear.dir, archive);
      try {
        await fw.addGear(archive);
      } catch (e) {
        // Another installer (a second `npm start` on the same database) got there first.
        if (e instanceof ApiError && e.status === 409) {
          result.present.push(gear);
          continue;
        }
        const reason = e instanceof Error ? e.message : String(e);
        result.failed.push({ gear, reason });
        log(`gear ${gear.name} ${gear.version} not installed: ${reason}`);
        continue;
      }
      result.installed.push(gear);
      log(`installed gear ${gear.name} ${gear.version}`);
    }
  } finally {
    await fs.promises.rm(tmp, { recursive: true, force: true });
  }
  return result;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { key: { type: 'string' } } });
  const { loadConfig } = await import('../packages/server/src/config.js');
  const config = loadConfig();
  const keyFile = path.join(config.dataDir, 'admin-api-key');
  const apiKey = values.key ?? (fs.existsSync(keyFile) ? keyForUrl(fs.readFileSync(keyFile, 'utf8'), config.publicUrl) : undefined);
  if (!apiKey) {
    console.error(`usage: install-gears.ts [--key <site admin key>] [gear …] (no --key and no ${keyFile})`);
    process.exit(2);
  }
  const r = await installShippedGears({ apiKey, only: positionals, log: (m) => console.log(m) });
  for (const g of r.present) console.log(`gear ${g.name} ${g.version} already installed`);
  process.exit(r.failed.length ? 1 : 0);
}
