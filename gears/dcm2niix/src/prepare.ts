import { closeSync, copyFileSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GearError } from '../../lib/src/context.js';
import { extractZip, isZip } from './zip.js';

/**
 * Lays the input out as one folder of files for dcm2niix. The folder is named after the input file
 * without its archive suffixes, because dcm2niix's default name pattern '%f' is the folder name:
 * `T1w.dicom.zip` becomes `T1w.nii.gz`, as with Flywheel's gear.
 */
export function seriesFolderName(inputName: string): string {
  let stem = basename(inputName);
  for (;;) {
    const next = stem.replace(/\.(zip|gz|tgz|dicom|dcm|parrec|ima)$/i, '');
    if (next === stem) break;
    stem = next;
  }
  // Characters that are awkward in file names become '_' (dcm2niix would keep them in output names).
  const safe = stem.replace(/[^A-Za-z0-9._+-]+/g, '_').replace(/^[._]+|_+$/g, '');
  return safe || 'series';
}

function isGzip(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

/** Unique file names inside the series folder: archive sub-folders are flattened. */
function uniqueName(taken: Set<string>, name: string): string {
  let candidate = name;
  for (let n = 1; taken.has(candidate); n++) candidate = `${n}_${name}`;
  taken.add(candidate);
  return candidate;
}

export interface Prepared {
  dir: string;
  files: number;
  kind: 'zip' | 'gzip' | 'file';
}

export async function prepareInput(inputPath: string, inputName: string, work: string): Promise<Prepared> {
  const dir = join(work, 'input', seriesFolderName(inputName));
  mkdirSync(dir, { recursive: true });
  if (isZip(inputPath)) {
    const taken = new Set<string>();
    let files = 0;
    try {
      await extractZip(inputPath, (entry) => {
        if (entry.isDirectory) return undefined;
        const parts = entry.name.split('/');
        const leaf = parts[parts.length - 1]!;
        // macOS resource forks and hidden files are not images.
        if (!leaf || leaf.startsWith('.') || parts.includes('__MACOSX')) return undefined;
        files++;
        return join(dir, uniqueName(taken, leaf));
      });
    } catch (err) {
      throw new GearError(`cannot extract ${inputName}: ${(err as Error).message}`);
    }
    if (files === 0) throw new GearError(`${inputName} is an empty archive`);
    return { dir, files, kind: 'zip' };
  }
  if (isGzip(inputPath)) {
    const name = basename(inputName).replace(/\.gz$/i, '') || 'image';
    try {
      writeFileSync(join(dir, name), gunzipSync(readFileSync(inputPath)));
    } catch (err) {
      throw new GearError(`cannot gunzip ${inputName}: ${(err as Error).message}`);
    }
    return { dir, files: 1, kind: 'gzip' };
  }
  copyFileSync(inputPath, join(dir, basename(inputName)));
  return { dir, files: 1, kind: 'file' };
}

export function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(dir, d.name));
}
