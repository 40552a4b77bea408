import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zipBuffer } from '../../../test-fixtures/zip.js';
import { makeHierarchy } from '../../server/test/helpers.js';
import { Cli, startTestServer, type TestServer, tempDir } from './helpers.js';

/** `sprocket file members` and `sprocket download --member`: zip members without downloading the zip. */

describe('file members, download --member', () => {
  let s: TestServer;
  let cli: Cli;
  let work: string;
  const slices = Buffer.from('pixel data '.repeat(30_000));
  const acqPath = 'zlab/Project/sub-01/ses-01/T1w';
  const zipPath = `${acqPath}/files/T1w.zip`;

  beforeAll(async () => {
    s = await startTestServer();
    await makeHierarchy(s.admin, 'zlab');
    cli = new Cli();
    await cli.login(s.admin.key!);
    work = tempDir();
    fs.writeFileSync(
      path.join(work, 'T1w.zip'),
      await zipBuffer(
        { 'T1w/IM0001.dcm': slices, 'T1w/IM0002.dcm': 'second', 'notes.txt': 'hi' },
        { mtime: new Date(2024, 0, 2, 3, 4, 6) },
      ),
    );
    fs.writeFileSync(path.join(work, 'notes.txt'), 'plain text, not a zip, long enough to be looked at');
    await cli.ok(['upload', acqPath, path.join(work, 'T1w.zip'), path.join(work, 'notes.txt')]);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('lists the members of a zip as a table or as JSON', async () => {
    const table = (await cli.ok(['file', 'members', zipPath])).trim().split('\n');
    expect(table[0]).toMatch(/^\s*SIZE\s+MODIFIED\s+PATH$/);
    expect(table.slice(1).map((l) => l.trim().split(/\s+/).pop())).toEqual(['T1w/IM0001.dcm', 'T1w/IM0002.dcm', 'notes.txt']);
    expect(table[1]).toMatch(/330(\.0)? kB/);
    const json = await cli.json(['file', 'members', zipPath, '--json']);
    expect(json.members.map((m: any) => [m.path, m.size])).toEqual([
      ['T1w/IM0001.dcm', slices.length],
      ['T1w/IM0002.dcm', 6],
      ['notes.txt', 2],
    ]);
  });

  it('downloads one member, to its base name or where -o says', async () => {
    const out = await cli.ok(['download', zipPath, '--member', 'T1w/IM0001.dcm'], { cwd: work });
    expect(out).toMatch(/^Downloaded T1w\/IM0001\.dcm of T1w\.zip: .*IM0001\.dcm \(330(\.0)? kB\)$/m);
    expect(fs.readFileSync(path.join(work, 'IM0001.dcm')).equals(slices)).toBe(true);
    const dest = path.join(work, 'picked', 'second.dcm');
    await cli.ok(['download', zipPath, '--member', 'T1w/IM0002.dcm', '-o', dest]);
    expect(fs.readFileSync(dest, 'utf8')).toBe('second');
    fs.mkdirSync(path.join(work, 'into'));
    await cli.ok(['download', zipPath, '--member', 'notes.txt', '-o', path.join(work, 'into')]);
    expect(fs.readFileSync(path.join(work, 'into', 'notes.txt'), 'utf8')).toBe('hi');
  });

  it('fails in one line for what cannot be done', async () => {
    expect(await cli.fails(['file', 'members', `${acqPath}/files/notes.txt`])).toMatch(/file 'notes\.txt' is not a zip archive/);
    expect(await cli.fails(['file', 'members', acqPath])).toMatch(/is not a file/);
    expect(await cli.fails(['download', zipPath, '--member', 'T1w/none.dcm'], { cwd: work })).toMatch(
      /member 'T1w\/none\.dcm' not found in file 'T1w\.zip'/,
    );
    expect(await cli.fails(['download', acqPath, '--member', 'x'])).toMatch(/--member needs a zip file/);
    expect(fs.existsSync(path.join(work, 'none.dcm'))).toBe(false);
  });
});
