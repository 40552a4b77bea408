import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ZipMember, zipBuffer } from '../../../test-fixtures/zip.js';
import { makeHierarchy, STORAGE_BACKENDS, startTestServer, type TestServer } from './helpers.js';
import { makeUser, ok } from './people.js';

/**
 * Zip members of stored files, as Flywheel's SDK reads them: `GET …/files/{name}?info=true` (the
 * SDK's `get_file_zip_info`, model FileZipInfo) and `?member=<path>` (`download_file_zip_member`),
 * with a key or through a download ticket.
 */

/** Every member stamped at one known time unless it says otherwise, so the listing's timestamps can be checked. */
const zipOf = (members: (ZipMember | { dir: string })[], comment = '') =>
  zipBuffer(members, { comment, mtime: new Date(2024, 4, 6, 7, 8, 10) });

/** The central-directory record of `name` in a zip (offset of its signature). */
function centralEntry(zip: Buffer, name: string): number {
  for (let i = zip.length - 46; i >= 0; i--) {
    if (zip.readUInt32LE(i) !== 0x02014b50) continue;
    const len = zip.readUInt16LE(i + 28);
    if (zip.subarray(i + 46, i + 46 + len).toString() === name) return i;
  }
  throw new Error(`${name} not in the zip`);
}

/** How yazl records a time (MS-DOS fields in local time), read back as the server shows it (those fields as UTC). */
const asListed = (d: Date) =>
  new Date(
    Date.UTC(d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds() - (d.getSeconds() % 2)),
  ).toISOString();

let s: TestServer;
let h: Awaited<ReturnType<typeof makeHierarchy>>;
const big = randomBytes(300_000);
const repetitive = Buffer.from('voxel '.repeat(200_000));
const when = new Date(2023, 10, 12, 13, 14, 16);
let url: string;

describe.each(STORAGE_BACKENDS)('%s storage', (storage) => {
  beforeAll(async () => {
    s = await startTestServer({ storage });
    h = await makeHierarchy(s.admin, 'zips');
    const zip = await zipOf(
      [
        { dir: 'series/' },
        { name: 'series/IM0001.dcm', content: repetitive, mtime: when },
        { name: 'series/IM0002.dcm', content: big, compress: false },
        { name: 'notes/read me (1).txt', content: 'hello zip' },
        { name: 'empty.txt', content: '' },
      ],
      'made by the tests',
    );
    ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'bundle.zip', content: new Blob([zip]) }]));
    ok(
      await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [
        { name: 'plain.txt', content: 'not a zip at all, though long enough to look like one' },
      ]),
    );
    url = `/acquisitions/${h.acquisition}/files/bundle.zip`;
  });
  afterAll(async () => {
    await s?.stop();
  });

  describe('?info=true: the member list', () => {
    it("lists every file member with path, size and timestamp, in Flywheel's FileZipInfo shape", async () => {
      const info = ok(await s.admin.get(`${url}?info=true`));
      expect(info.comment).toBe('made by the tests');
      expect(info.members.map((m: any) => m.path)).toEqual([
        'series/IM0001.dcm',
        'series/IM0002.dcm',
        'notes/read me (1).txt',
        'empty.txt',
      ]);
      const first = info.members[0];
      expect(first).toEqual({ path: 'series/IM0001.dcm', size: repetitive.length, timestamp: asListed(when), comment: '' });
      expect(info.members[1].size).toBe(big.length);
      expect(info.members[3].size).toBe(0);
      // Python's spelling of the flag works the same.
      expect(ok(await s.admin.get(`${url}?info=True`))).toEqual(info);
      // info=false is the file itself.
      const whole = await s.admin.bytes(`${url}?info=false`);
      expect(whole.data.subarray(0, 2).toString()).toBe('PK');
    });

    it('a file that is not a zip gets a 400 naming the file', async () => {
      const r = await s.admin.get(`/acquisitions/${h.acquisition}/files/plain.txt?info=true`);
      expect(r.status).toBe(400);
      expect(r.body.message).toMatch(/^file 'plain\.txt' is not a zip archive/);
      const m = await s.admin.get(`/acquisitions/${h.acquisition}/files/plain.txt?member=x`);
      expect(m.status).toBe(400);
    });
  });

  describe('?member=<path>: one member streamed out of the stored zip', () => {
    it('deflated and stored members arrive byte for byte, as sandboxed attachments', async () => {
      const deflated = await s.admin.bytes(`${url}?member=${encodeURIComponent('series/IM0001.dcm')}`);
      expect(deflated.status).toBe(200);
      expect(deflated.data.equals(repetitive)).toBe(true);
      expect(deflated.headers.get('content-length')).toBe(String(repetitive.length));
      expect(deflated.headers.get('content-disposition')).toBe("attachment; filename*=UTF-8''IM0001.dcm");
      expect(deflated.headers.get('content-security-policy')).toBe('sandbox');

      const stored = await s.admin.bytes(`${url}?member=series%2FIM0002.dcm`);
      expect(stored.data.equals(big)).toBe(true);
      const spaced = await s.admin.bytes(`${url}?member=${encodeURIComponent('notes/read me (1).txt')}`);
      expect(spaced.data.toString()).toBe('hello zip');
      const empty = await s.admin.bytes(`${url}?member=empty.txt`);
      expect(empty.status).toBe(200);
      expect(empty.data.length).toBe(0);
    });

    it('a member that is not there is a 404 naming it; folders are not members', async () => {
      const r = await s.admin.get(`${url}?member=series%2FIM9999.dcm`);
      expect(r.status).toBe(404);
      expect(r.body.message).toBe("member 'series/IM9999.dcm' not found in file 'bundle.zip'");
      expect((await s.admin.get(`${url}?member=series%2F`)).status).toBe(404);
      const long = await s.admin.get(`${url}?member=${'a'.repeat(5000)}`);
      expect(long.status).toBe(400);
      expect(long.body.message).toMatch(/^querystring\.member: must be at most 4096 characters long$/);
    });

    it('earlier versions are read with ?version=', async () => {
      const v2 = await zipOf([{ name: 'series/IM0001.dcm', content: 'second version' }]);
      ok(
        await s.admin.upload(`/sessions/${h.session}/files`, [
          { name: 'v.zip', content: new Blob([await zipOf([{ name: 'a.txt', content: 'first version' }])]) },
        ]),
      );
      ok(await s.admin.upload(`/sessions/${h.session}/files`, [{ name: 'v.zip', content: new Blob([v2]) }]));
      const vurl = `/sessions/${h.session}/files/v.zip`;
      expect(ok(await s.admin.get(`${vurl}?info=true`)).members.map((m: any) => m.path)).toEqual(['series/IM0001.dcm']);
      expect(ok(await s.admin.get(`${vurl}?info=true&version=1`)).members.map((m: any) => m.path)).toEqual(['a.txt']);
      expect((await s.admin.bytes(`${vurl}?member=a.txt&version=1`)).data.toString()).toBe('first version');
    });
  });

  describe('download tickets', () => {
    it('carry info and member requests for a key-less client', async () => {
      const { ticket } = ok(await s.admin.get(`${url}?ticket=`));
      const t = encodeURIComponent(ticket);
      const info = ok(await s.anon.get(`${url}?ticket=${t}&info=true`));
      expect(info.members).toHaveLength(4);
      const member = await s.anon.bytes(`${url}?ticket=${t}&member=${encodeURIComponent('notes/read me (1).txt')}`);
      expect(member.status).toBe(200);
      expect(member.data.toString()).toBe('hello zip');
      // A ticket for another file does not open this one.
      const other = ok(await s.admin.get(`/acquisitions/${h.acquisition}/files/plain.txt?ticket=`)).ticket;
      expect((await s.anon.get(`${url}?ticket=${encodeURIComponent(other)}&info=true`)).status).toBe(401);
    });

    it('without a key or ticket, or without access, nothing is listed', async () => {
      expect((await s.anon.get(`${url}?info=true`)).status).toBe(401);
      const stranger = await makeUser(s, 'stranger@zips.org');
      const r = await stranger.get(`${url}?info=true`);
      expect(r.status).toBe(404);
      expect(JSON.stringify(r.body)).not.toContain('series/');
    });
  });

  describe('forged archives', () => {
    async function uploadForged(name: string, zip: Buffer) {
      ok(await s.admin.upload(`/subjects/${h.subject}/files`, [{ name, content: new Blob([zip]) }]));
      return `/subjects/${h.subject}/files/${name}`;
    }

    it('a member inflating past its declared size is refused, not streamed on', async () => {
      const zip = await zipOf([{ name: 'bomb.bin', content: Buffer.alloc(4 << 20) }]);
      zip.writeUInt32LE(100, centralEntry(zip, 'bomb.bin') + 24);
      const at = await uploadForged('bomb.zip', zip);
      expect(ok(await s.admin.get(`${at}?info=true`)).members[0].size).toBe(100);
      const r = await s.admin.get(`${at}?member=bomb.bin`);
      expect(r.status).toBe(400);
      expect(r.body.message).toMatch(/member 'bomb\.bin' of file 'bomb\.zip' inflates past its declared 100 bytes/);
    });

    it('a member whose content fails its CRC-32 ends the transfer broken, never as a complete download', async () => {
      const zip = await zipOf([{ name: 'data.bin', content: randomBytes(200_000) }]);
      const crcAt = centralEntry(zip, 'data.bin') + 16;
      zip.writeUInt32LE((zip.readUInt32LE(crcAt) ^ 1) >>> 0, crcAt);
      const at = await uploadForged('crc.zip', zip);
      const res = await fetch(`${s.url}${at}?member=data.bin`, { headers: s.admin.headers() });
      await expect(res.arrayBuffer()).rejects.toThrow();
    });

    it('a member shorter than its entry declares is refused before its bytes go out', async () => {
      const zip = await zipOf([{ name: 'short.bin', content: 'x', compress: false }]);
      zip.writeUInt32LE(5000, centralEntry(zip, 'short.bin') + 24);
      const at = await uploadForged('short.zip', zip);
      const r = await s.admin.get(`${at}?member=short.bin`);
      expect(r.status).toBe(400);
      expect(r.body.message).toBe("member 'short.bin' of file 'short.zip' holds 1 bytes, not the 5000 its entry declares");
    });
  });
});
