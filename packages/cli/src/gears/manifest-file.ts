import fs from 'node:fs';
import path from 'node:path';
import { checkManifest, type GearManifest } from '@sprocket/types';
import { CliError } from '../errors.js';

/**
 * Checks a manifest object with the gear spec's validator (`@sprocket/types`, the one the server's
 * upload applies), so a gear is judged here by exactly the rules it will meet there; a one-line
 * error naming the first problem's JSON path.
 */
export function validateManifest(m: unknown, where: string): string[] {
  const { errors, warnings } = checkManifest(m);
  if (errors.length) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more: ${errors.slice(1, 3).join('; ')})` : '';
    throw new CliError(`invalid manifest ${where}: ${errors[0]}${more}`);
  }
  return warnings;
}

/** `<dir>/manifest.json`, parsed and validated; warnings are returned for the caller to show. */
export async function readManifest(dir: string): Promise<{ manifest: GearManifest; file: string; warnings: string[] }> {
  const file = path.join(dir, 'manifest.json');
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new CliError(`no manifest.json in ${path.resolve(dir)} (create one with 'sprocket gear create')`);
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CliError(`invalid manifest ${file}: not valid JSON (${(e as Error).message})`);
  }
  const warnings = validateManifest(parsed, file);
  return { manifest: parsed as GearManifest, file, warnings };
}
