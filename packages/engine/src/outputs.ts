import fs from 'node:fs';
import path from 'node:path';
import type { EngineClient } from './client.js';

export const METADATA_FILE = '.metadata.json';

export interface OutputFile {
  /** The name it is saved under: its base name (sub-folders are flattened). */
  name: string;
  path: string;
  size: number;
}

export interface CollectedOutputs {
  files: OutputFile[];
  /** The text of output/.metadata.json, when the gear wrote one. */
  metadata?: string;
  /** Set when .metadata.json is not a JSON object: the job fails with this reason. */
  metadataError?: string;
  totalBytes: number;
  /** What was left out and why, for the job log. */
  notes: string[];
}

async function walk(dir: string, into: string[], notes: string[], root: string): Promise<void> {
  const entries = await fs.promises.readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    const rel = path.relative(root, full);
    // lstat-based: a link could point anywhere on the host, so outputs are only real files.
    if (entry.isDirectory()) await walk(full, into, notes, root);
    else if (entry.isFile()) into.push(full);
    else notes.push(`output ${rel} is not a regular file (${entry.isSymbolicLink() ? 'symbolic link' : 'special file'}); not saved`);
  }
}

/** Everything the gear left in output/, with .metadata.json set apart. */
export async function collectOutputs(outputDir: string): Promise<CollectedOutputs> {
  const result: CollectedOutputs = { files: [], totalBytes: 0, notes: [] };
  const paths: string[] = [];
  await walk(outputDir, paths, result.notes, outputDir);
  // Shallower first: when flattening makes two names clash, the file nearer the top wins.
  const depth = (p: string) => p.split(path.sep).length;
  paths.sort((a, b) => depth(a) - depth(b) || (a < b ? -1 : a > b ? 1 : 0));
  const seen = new Map<string, string>();
  for (const p of paths) {
    const rel = path.relative(outputDir, p);
    if (rel === METADATA_FILE) {
      result.metadata = await fs.promises.readFile(p, 'utf8');
      try {
        const parsed = JSON.parse(result.metadata);
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
          result.metadataError = `output/${METADATA_FILE} is not a JSON object`;
      } catch (err) {
        result.metadataError = `output/${METADATA_FILE} is not valid JSON: ${(err as Error).message}`;
      }
      continue;
    }
    const name = path.basename(p);
    const earlier = seen.get(name);
    if (earlier) {
      result.notes.push(`output ${rel} has the same name as ${earlier} once sub-folders are flattened; only ${earlier} is saved`);
      continue;
    }
    seen.set(name, rel);
    const size = (await fs.promises.stat(p)).size;
    result.files.push({ name, path: p, size });
    result.totalBytes += size;
  }
  return result;
}

/**
 * One multipart upload of all outputs. Files go in as disk-backed blobs, so they stream from disk
 * instead of being read into memory; the metadata part comes first so the API has it before files.
 */
export async function uploadOutputs(
  client: Pick<EngineClient, 'upload'>,
  uri: string,
  ticket: string,
  outputs: CollectedOutputs,
  signal?: AbortSignal,
): Promise<unknown> {
  const form = new FormData();
  if (outputs.metadata !== undefined && !outputs.metadataError) form.append('metadata', outputs.metadata);
  for (const f of outputs.files) form.append('file', await fs.openAsBlob(f.path), f.name);
  return client.upload(uri, ticket, form, signal);
}
