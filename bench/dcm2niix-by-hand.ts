import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { planConversion } from '../gears/dcm2niix/src/options.js';

const MANIFEST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'gears', 'dcm2niix', 'manifest.json');

/**
 * The dcm2niix command line the shipped gear runs with its manifest's defaults, from the gear's
 * own planner: what "dcm2niix by hand" in the benchmarks runs, so the comparison is like for like
 * and follows the gear when its defaults change.
 */
export function dcm2niixByHand(inputDir: string, outDir: string): string[] {
  const manifest = JSON.parse(fs.readFileSync(MANIFEST, 'utf8')) as { config: Record<string, { default?: unknown }> };
  const defaults = Object.fromEntries(
    Object.entries(manifest.config)
      .filter(([, spec]) => 'default' in spec)
      .map(([key, spec]) => [key, spec.default]),
  );
  return planConversion(defaults, inputDir, outDir).args;
}
