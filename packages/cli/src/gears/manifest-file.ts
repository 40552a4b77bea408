import fs from 'node:fs';
import path from 'node:path';
import type { GearManifest } from '@sprocket/sdk';
import { CliError } from '../errors.js';

/**
 * The server's own manifest validator (packages/server/src/jobs/manifest.ts): a pure module of
 * JSON-schema checks, imported here so a gear is judged by exactly the rules the upload applies.
 * Loaded on demand because compiling its schema costs start-up time other commands need not pay.
 */
async function serverCheck(m: unknown): Promise<{ errors: string[]; warnings: string[] }> {
  const { checkManifest } = await import('../../../server/src/jobs/manifest.js');
  return checkManifest(m);
}

/** Checks a manifest object; a one-line error naming the first problem's JSON path. */
export async function validateManifest(m: unknown, where: string): Promise<string[]> {
  const { errors, warnings } = await serverCheck(m);
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
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`no manifest.json in ${path.resolve(dir)} (create one with 'sprocket gear create')`);
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CliError(`invalid manifest ${file}: not valid JSON (${(e as Error).message})`);
  }
  const warnings = await validateManifest(parsed, file);
  return { manifest: parsed as GearManifest, file, warnings };
}
