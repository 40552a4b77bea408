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
    zip.outputStream.pipe(createWriteStream(out)).on('close', () => done(out)).on('error', fail);
  });
}
