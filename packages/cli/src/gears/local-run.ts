import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { GearManifest } from '@sprocket/sdk';
import { RUN_LEFTOVERS } from './pack.js';

export const GEAR_BASE = '/flywheel/v0';
/** Stands in for container ids in config.json: a local run has no hierarchy. */
export const LOCAL_ID = '000000000000000000000000';

/**
 * The server's pure job modules, shared so a local run gets the config, the environment and the
 * file types a real job would: defaults filled and checked (`resolveConfig`), PATH + manifest
 * environment + FW_CONFIG_* (`runEnvironment`), Flywheel's extension map (`guessFileType`).
 */
export async function serverJobModules() {
  const [invocation, filetypes] = await Promise.all([import('../../../server/src/jobs/invocation.js'), import('../../../server/src/files/filetypes.js')]);
  return { resolveConfig: invocation.resolveConfig, runEnvironment: invocation.runEnvironment, guessFileType: filetypes.guessFileType, guessMimetype: filetypes.guessMimetype };
}

export interface LocalLayout {
  jobDir: string;
  configJson: Record<string, unknown>;
}

/**
 * Lays out a job folder as an engine does for /flywheel/v0: the gear's files, config.json (gear
 * spec §1.8 shape), input/<name>/<file> copies of the given files, an empty output/ and work/.
 */
export async function layOut(opts: {
  gearDir: string;
  jobDir: string;
  manifest: GearManifest;
  config: Record<string, unknown>;
  files: Record<string, string>;
  contexts: Record<string, string>;
  apiKey?: string;
}): Promise<LocalLayout> {
  const { gearDir, jobDir, manifest } = opts;
  const mods = await serverJobModules();
  await fs.promises.mkdir(jobDir, { recursive: true });
  for (const entry of await fs.promises.readdir(gearDir)) {
    if (RUN_LEFTOVERS.has(entry) || entry === '.git') continue;
    await fs.promises.cp(path.join(gearDir, entry), path.join(jobDir, entry), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  }
  for (const d of ['input', 'output', 'work']) await fs.promises.mkdir(path.join(jobDir, d), { recursive: true });

  const inputs: Record<string, unknown> = {};
  for (const [name, file] of Object.entries(opts.files)) {
    const base = path.basename(file);
    const dest = path.join(jobDir, 'input', name, base);
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    await fs.promises.copyFile(file, dest, fs.constants.COPYFILE_FICLONE);
    const size = (await fs.promises.stat(dest)).size;
    inputs[name] = {
      base: 'file',
      hierarchy: { type: 'acquisition', id: LOCAL_ID },
      location: { name: base, path: `${GEAR_BASE}/input/${name}/${base}` },
      object: { info: {}, tags: [], measurements: [], classification: {}, mimetype: mods.guessMimetype(base), type: mods.guessFileType(base), modality: null, size },
    };
  }
  for (const [name, spec] of Object.entries(manifest.inputs ?? {})) {
    if (spec.base === 'context') {
      const raw = opts.contexts[name];
      let value: unknown = raw;
      if (raw !== undefined) {
        try {
          value = JSON.parse(raw);
        } catch {
          value = raw;
        }
      }
      inputs[name] = raw === undefined ? { base: 'context', found: false } : { base: 'context', found: true, value };
    } else if (spec.base === 'api-key' && opts.apiKey) {
      inputs[name] = { base: 'api-key', key: opts.apiKey };
    }
  }
  const configJson = { config: opts.config, inputs, destination: { type: 'acquisition', id: LOCAL_ID } };
  await fs.promises.writeFile(path.join(jobDir, 'config.json'), `${JSON.stringify(configJson, null, 2)}\n`);
  return { jobDir, configJson };
}

export function localJobId(): string {
  return `local-${randomBytes(4).toString('hex')}`;
}
