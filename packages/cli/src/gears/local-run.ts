import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  apiKeyInputEntry,
  CONFIG_JSON,
  contextInputEntry,
  fileInputEntry,
  type GearManifest,
  guessFileType,
  guessMimetype,
  INPUT_DIR_NAME,
} from '@sprocket/types';
import { RUN_LEFTOVERS } from './pack.js';

/** Stands in for container ids in config.json: a local run has no hierarchy. */
export const LOCAL_ID = '000000000000000000000000';

/** A gear folder's own run leftovers and its .git are not part of the gear. */
const NOT_COPIED = new Set([...RUN_LEFTOVERS, '.git']);

export interface LocalLayout {
  jobDir: string;
  configJson: Record<string, unknown>;
}

/**
 * Lays out a job folder as an engine does for /flywheel/v0 (the engine's own `layOutJobDir`), with
 * config.json built by the gear spec's rules (`@sprocket/types`) a server job's is built by: each
 * given file copied to input/<name>/<file> and described as the server describes a stored file.
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
  // Loaded here, not at the top: every CLI command loads this module, few run a gear.
  const { layOutJobDir } = await import('@sprocket/engine');
  await layOutJobDir(gearDir, jobDir, { skip: NOT_COPIED });

  const inputs: Record<string, unknown> = {};
  for (const [name, file] of Object.entries(opts.files)) {
    const base = path.basename(file);
    const dest = path.join(jobDir, INPUT_DIR_NAME, name, base);
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    await fs.promises.copyFile(file, dest, fs.constants.COPYFILE_FICLONE);
    const size = (await fs.promises.stat(dest)).size;
    const gearFile = {
      name: base,
      type: guessFileType(base),
      mimetype: guessMimetype(base),
      modality: null,
      size,
      classification: {},
      tags: [],
      info: {},
    };
    inputs[name] = fileInputEntry(name, { type: 'acquisition', id: LOCAL_ID }, gearFile);
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
      inputs[name] = contextInputEntry(value);
    } else if (spec.base === 'api-key' && opts.apiKey) {
      inputs[name] = apiKeyInputEntry(opts.apiKey);
    }
  }
  const configJson = { config: opts.config, inputs, destination: { type: 'acquisition', id: LOCAL_ID } };
  await fs.promises.writeFile(path.join(jobDir, CONFIG_JSON), `${JSON.stringify(configJson, null, 2)}\n`);
  return { jobDir, configJson };
}

export function localJobId(): string {
  return `local-${randomBytes(4).toString('hex')}`;
}
