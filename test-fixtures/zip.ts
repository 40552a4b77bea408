import { createWriteStream } from 'node:fs';
import { basename } from 'node:path';
import yazl from 'yazl';

/**
 * A .zip of files, as scanners' export tools and Flywheel produce for DICOM series, written with
 * yazl (an independent writer, so readers are tested against archives they did not make).
 */
export function zipFiles(files: string[], out: string, opts: { folder?: string; zip64?: boolean } = {}): Promise<string> {
  return new Promise((done, fail) => {
    const zip = new yazl.ZipFile();
    for (const f of files) {
      zip.addFile(f, opts.folder ? `${opts.folder}/${basename(f)}` : basename(f), { forceZip64Format: !!opts.zip64 });
    }
    zip.end({ forceZip64Format: !!opts.zip64, comment: '' });
    zip.outputStream
      .pipe(createWriteStream(out))
      .on('close', () => done(out))
      .on('error', fail);
  });
}

/** One member of `zipBuffer`: content given inline or read from `path`; an entry with `dir` is an empty folder. */
export interface ZipMember {
  name: string;
  content?: Buffer | string;
  path?: string;
  compress?: boolean;
  mtime?: Date;
}

/**
 * A zip in memory, for uploads in tests: members as a list (with per-member options) or as a
 * name → content map. `mtime` is every member's time unless a member sets its own; without it yazl
 * stamps the current time.
 */
export function zipBuffer(
  members: (ZipMember | { dir: string })[] | Record<string, string | Buffer>,
  opts: { comment?: string; mtime?: Date } = {},
): Promise<Buffer> {
  const list: (ZipMember | { dir: string })[] = Array.isArray(members)
    ? members
    : Object.entries(members).map(([name, content]) => ({ name, content }));
  const zip = new yazl.ZipFile();
  for (const m of list) {
    if ('dir' in m) zip.addEmptyDirectory(m.dir);
    else if (m.path) zip.addFile(m.path, m.name);
    else {
      const mtime = m.mtime ?? opts.mtime;
      zip.addBuffer(Buffer.from(m.content ?? ''), m.name, { compress: m.compress ?? true, ...(mtime ? { mtime } : {}) });
    }
  }
  zip.end({ forceZip64Format: false, comment: opts.comment ?? '' });
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
}
