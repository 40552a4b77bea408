import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FileObject } from '../../lib/src/context.js';
import { keepLastVolume, readNiftiBytes } from '../../lib/src/nifti.js';

/**
 * Turns what dcm2niix wrote into gear outputs and their output/.metadata.json entries (spec §1.10):
 * every file gets the BIDS sidecar of its series as `info`, the input's modality and classification,
 * and a type — nifti, bval, bvec, and 'source code' for the sidecar itself as Flywheel's gear does.
 */
export interface OutputEntry {
  name: string;
  type?: string;
  modality: string;
  classification: Record<string, unknown>;
  info?: Record<string, unknown>;
}

const NIFTI = /\.nii(\.gz)?$/i;

export function outputType(name: string): string | undefined {
  if (NIFTI.test(name)) return 'nifti';
  if (/\.bval$/i.test(name)) return 'bval';
  if (/\.bvec$/i.test(name)) return 'bvec';
  if (/\.json$/i.test(name)) return 'source code';
  if (/\.nrrd$/i.test(name)) return 'nrrd';
  return undefined;
}

function stemOf(name: string): string {
  return name.replace(/\.(nii\.gz|nii|bval|bvec|json|nrrd)$/i, '');
}

/**
 * The sidecar of an output: same stem, or — for 3D volumes split out of a 4D series, named
 * `<stem>_1.nii`, `<stem>_2.nii` … — the stem without the volume number.
 */
function sidecarFor(name: string, sidecars: Map<string, Record<string, unknown>>): Record<string, unknown> | undefined {
  const stem = stemOf(name);
  return sidecars.get(stem) ?? sidecars.get(stem.replace(/_\d+$/, ''));
}

export function combineCoils(dir: string, log: (m: string) => void): void {
  for (const name of readdirSync(dir).filter((n) => NIFTI.test(n))) {
    const path = join(dir, name);
    const single = keepLastVolume(readNiftiBytes(path));
    if (!single) continue;
    writeFileSync(path, /\.gz$/i.test(name) ? gzipSync(single) : single);
    log(`coil_combine: ${name} reduced to its last (combined) volume`);
  }
}

export function collectOutputs(opts: { from: string; to: string; keepSidecar: boolean; input: FileObject }): OutputEntry[] {
  const names = readdirSync(opts.from).sort();
  const sidecars = new Map<string, Record<string, unknown>>();
  for (const n of names.filter((n) => /\.json$/i.test(n))) {
    try {
      sidecars.set(stemOf(n), JSON.parse(readFileSync(join(opts.from, n), 'utf8')));
    } catch {
      // A sidecar dcm2niix could not finish is no reason to lose the images; they get no info.
    }
  }
  const classification = opts.input.classification && typeof opts.input.classification === 'object' ? opts.input.classification : {};
  const entries: OutputEntry[] = [];
  for (const name of names) {
    const src = join(opts.from, name);
    const type = outputType(name);
    if (type === 'source code' && !opts.keepSidecar) {
      rmSync(src);
      continue;
    }
    const info = sidecarFor(name, sidecars);
    const modality =
      (typeof opts.input.modality === 'string' && opts.input.modality) || (typeof info?.Modality === 'string' && info.Modality) || 'MR';
    const dest = join(opts.to, name);
    if (existsSync(dest)) rmSync(dest);
    try {
      renameSync(src, dest);
    } catch {
      // Work space on another file system than output/ (sandbox temp dir).
      copyFileSync(src, dest);
      rmSync(src);
    }
    entries.push({ name, ...(type ? { type } : {}), modality, classification, ...(info ? { info } : {}) });
  }
  return entries;
}

export function writeMetadata(outputDir: string, files: OutputEntry[]): void {
  writeFileSync(join(outputDir, '.metadata.json'), `${JSON.stringify({ acquisition: { files } }, null, 2)}\n`);
}
