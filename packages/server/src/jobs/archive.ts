import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface ArchiveManifest {
  /** The manifest's text, or undefined with `problem` saying why none was usable. */
  text?: string;
  /** '' when manifest.json sits at the top of the archive, else the one top-level folder holding it. */
  root?: string;
  problem?: string;
}

function normalise(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
}

/**
 * Reads a gear archive (tar.gz of the gear's directory) as it streams past and finds its
 * manifest.json: at the top, or inside the one top-level folder the archive has (what
 * `tar czf gear.tgz mygear/` makes). Always consumes the whole stream, even when it is not a
 * tar.gz, so a caller teeing the upload into storage is never stalled.
 */
export function readArchiveManifest(source: Readable): Promise<ArchiveManifest> {
  return new Promise((resolve) => {
    const candidates = new Map<string, string>();
    const tops = new Set<string>();
    let failed: string | undefined;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      if (failed) return resolve({ problem: failed });
      const atRoot = candidates.get('');
      if (atRoot !== undefined) return resolve({ text: atRoot, root: '' });
      const nested = [...candidates.entries()];
      if (nested.length === 1 && tops.size === 1) return resolve({ text: nested[0]![1], root: nested[0]![0] });
      if (nested.length > 1 || tops.size > 1) {
        return resolve({ problem: 'the archive has no manifest.json at its top and more than one top-level folder' });
      }
      resolve({ problem: 'the archive has no manifest.json (at its top or inside its one top-level folder)' });
    };
    let sourceEnded = false;
    source.once('end', () => {
      sourceEnded = true;
      if (failed) finish();
    });
    const drainOnError = (msg: string) => {
      if (failed) return;
      failed = msg;
      if (sourceEnded) return finish();
      // Keep reading so the other consumer of `source` sees the whole upload.
      source.unpipe();
      source.on('data', () => undefined);
      source.resume();
    };
    const extract = tar.extract();
    extract.on('entry', (header, stream, next) => {
      const name = normalise(header.name);
      const parts = name.split('/').filter(Boolean);
      if (parts.length) tops.add(parts.length > 1 || header.type === 'directory' ? parts[0]! : '');
      const isManifest = header.type === 'file' && parts[parts.length - 1] === 'manifest.json' && parts.length <= 2;
      if (!isManifest) {
        stream.on('end', next);
        stream.resume();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (c: unknown) => {
        if (!Buffer.isBuffer(c)) return;
        size += c.length;
        if (size <= MAX_MANIFEST_BYTES) chunks.push(c);
      });
      stream.on('end', () => {
        if (size > MAX_MANIFEST_BYTES) failed ??= `manifest.json is larger than ${MAX_MANIFEST_BYTES} bytes`;
        else candidates.set(parts.length === 2 ? parts[0]! : '', Buffer.concat(chunks).toString('utf8'));
        next();
      });
    });
    extract.on('finish', finish);
    extract.on('error', (e) => drainOnError(`the file is not a gzip-compressed tar archive (${e.message})`));
    const gunzip = createGunzip();
    gunzip.on('error', (e) => drainOnError(`the file is not a gzip-compressed tar archive (${e.message})`));
    source.on('error', (e) => {
      failed ??= `upload failed: ${e.message}`;
      finish();
    });
    extract.on('close', () => {
      if (sourceEnded) finish();
    });
    source.pipe(gunzip).pipe(extract);
  });
}
