import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { zipBuffer } from '../../../test-fixtures/zip.js';
import { extractZip, ZipError } from '../src/zip.js';

const scratch = mkdtempSync(join(tmpdir(), 'dcm2niix-zip-'));
let n = 0;

/** The archive written to disk and unpacked into a fresh folder: its files, name → content. */
async function unpack(zip: Buffer): Promise<Record<string, string>> {
  const dir = mkdtempSync(join(scratch, 'out-'));
  const file = join(scratch, `${n++}.zip`);
  writeFileSync(file, zip);
  await extractZip(file, (m) => (m.isDirectory ? undefined : join(dir, m.name.replaceAll('/', '_'))));
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}

/** The offset of the only central-directory entry (signature PK\1\2). */
function centralEntry(zip: Buffer): number {
  const at = zip.indexOf(Buffer.from([0x50, 0x4b, 1, 2]));
  expect(at).toBeGreaterThan(0);
  return at;
}

describe('the gear’s ZIP reader (yauzl)', () => {
  it('unpacks stored and deflated members, skipping folders', async () => {
    const zip = await zipBuffer([
      { dir: 'series/' },
      { name: 'series/a.dcm', content: 'stored bytes', compress: false },
      { name: 'series/b.dcm', content: 'deflated '.repeat(500) },
    ]);
    expect(await unpack(zip)).toEqual({ 'series_a.dcm': 'stored bytes', 'series_b.dcm': 'deflated '.repeat(500) });
  });

  it('hands over names as stored, .. included, for the caller to flatten', async () => {
    const names: string[] = [];
    const file = join(scratch, `${n++}.zip`);
    // yazl will not write a '..' name: one of the same length is patched into both its headers.
    const zip = await zipBuffer({ 'x/QQ/QQ/up.dcm': 'a', 'caf\u00e9.dcm': 'b' });
    for (let at = zip.indexOf('QQ/QQ'); at >= 0; at = zip.indexOf('QQ/QQ', at)) zip.write('../..', at, 'latin1');
    writeFileSync(file, zip);
    await extractZip(file, (m) => void names.push(m.name));
    expect(names).toEqual(['x/../../up.dcm', 'caf\u00e9.dcm']);
  });

  it('refuses a member whose bytes do not match its CRC-32', async () => {
    const zip = await zipBuffer([{ name: 'a.dcm', content: 'stored bytes', compress: false }]);
    // Stored, so the content sits in the archive as it is: one flipped bit leaves it readable but wrong.
    const at = zip.indexOf('stored bytes');
    zip.writeUInt8(zip.readUInt8(at) ^ 0x20, at);
    await expect(unpack(zip)).rejects.toThrow(/a\.dcm: CRC mismatch/);
  });

  it('refuses a deflated member that inflates past the size its directory entry declares', async () => {
    const zip = await zipBuffer([{ name: 'bomb.dcm', content: Buffer.alloc(1 << 20) }]);
    zip.writeUInt32LE(1000, centralEntry(zip) + 24);
    const err = await unpack(zip).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ZipError);
    expect((err as Error).message).toMatch(/^bomb\.dcm: /);
  });

  it('refuses an archive that is not a zip, with yauzl’s reason', async () => {
    await expect(unpack(Buffer.from('PK\u0003\u0004 but nothing else'))).rejects.toThrow(ZipError);
  });
});
