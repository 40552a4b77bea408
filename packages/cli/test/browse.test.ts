import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHierarchy } from '../../server/test/helpers.js';
import { Cli, eventually, exited, startTestServer, type TestServer, tempDir } from './helpers.js';

const sha384 = (b: Buffer | string) => createHash('sha384').update(b).digest('hex');

describe('ls, upload, download, view', () => {
  let s: TestServer;
  let cli: Cli;
  let ids: Awaited<ReturnType<typeof makeHierarchy>>;
  let work: string;
  beforeAll(async () => {
    s = await startTestServer();
    ids = await makeHierarchy(s.admin, 'lab');
    cli = new Cli();
    await cli.login(s.admin.key!);
    work = tempDir();
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('uploads files to a path, lists them, and names unknown paths in one line', async () => {
    fs.writeFileSync(path.join(work, 'notes.txt'), 'hello\n');
    fs.writeFileSync(path.join(work, 'scan.nii.gz'), randomBytes(3000));
    const out = await cli.ok(['upload', 'lab/Project/sub-01/ses-01/T1w', path.join(work, 'notes.txt'), path.join(work, 'scan.nii.gz')]);
    expect(out).toContain('Uploaded notes.txt (6 B, version 1) to lab/Project/sub-01/ses-01/T1w');
    expect(out).toContain('Uploaded scan.nii.gz (3.0 kB, version 1)');
    await cli.ok(['upload', 'lab/Project', path.join(work, 'notes.txt')]);

    const listing = await cli.ok(['ls', 'lab/Project/sub-01/ses-01/T1w']);
    expect(listing.split('\n')[0]).toMatch(/^TYPE\s+SIZE\s+MODIFIED\s+NAME$/);
    expect(listing).toMatch(/file \(nifti\)\s+3\.0 kB .* scan\.nii\.gz/);
    expect(listing).toMatch(/file \(text\)\s+6 B .* notes\.txt/);
    const groups = await cli.ok(['ls']);
    expect(groups).toMatch(/group .* lab/);
    const json = await cli.json(['ls', 'lab/Project']);
    expect(json.path.label).toBe('Project');
    expect(json.children.map((c: any) => c.label ?? c.name).sort()).toEqual(['notes.txt', 'sub-01']);
    const file = await cli.json(['ls', 'lab/Project/sub-01/ses-01/T1w/files/notes.txt']);
    expect(file.path).toMatchObject({ name: 'notes.txt', size: 6 });

    expect(await cli.fails(['ls', 'lab/Nope'])).toMatch(/^error: not found: lab\/Nope \(.*Nope.*\)$/);
    expect(await cli.fails(['upload', 'lab/Project/sub-99', path.join(work, 'notes.txt')])).toMatch(
      /^error: not found: lab\/Project\/sub-99/,
    );
    expect(await cli.fails(['upload', 'lab/Project', path.join(work, 'missing.txt')])).toBe(
      `error: no such file or directory: ${path.join(work, 'missing.txt')}`,
    );
    expect(await cli.fails(['upload', 'lab/Project/sub-01/ses-01/T1w/files/notes.txt', path.join(work, 'notes.txt')])).toMatch(
      /is a file, not a container/,
    );
  });

  it('downloads a subtree, filtered by type, as files or one tar; a single file by path', async () => {
    const dest = path.join(work, 'all');
    const out = await cli.ok(['download', 'lab/Project', '-o', dest]);
    expect(out).toMatch(/^3 files \(.*\) in .*: 3 downloaded\n$/);
    expect(fs.readFileSync(path.join(dest, 'lab/Project/files/notes.txt'), 'utf8')).toBe('hello\n');
    expect(fs.readFileSync(path.join(dest, 'lab/Project/sub-01/ses-01/T1w/files/scan.nii.gz'))).toEqual(
      fs.readFileSync(path.join(work, 'scan.nii.gz')),
    );

    const only = path.join(work, 'nifti');
    await cli.ok(['download', 'lab/Project/sub-01', '-o', only, '--include', 'nifti']);
    expect(fs.readdirSync(path.join(only, 'lab/Project/sub-01/ses-01/T1w/files'))).toEqual(['scan.nii.gz']);
    const listed = await cli.json(['download', 'lab/Project', '--exclude', 'nifti', '--list']);
    expect(listed.map((f: any) => f.path).sort()).toEqual(['lab/Project/files/notes.txt', 'lab/Project/sub-01/ses-01/T1w/files/notes.txt']);

    const tarFile = path.join(work, 'p.tar');
    expect(await cli.ok(['download', 'lab/Project', '--tar', '-o', tarFile])).toContain('Downloaded 3 files');
    const names = (await import('node:child_process'))
      .execFileSync('tar', ['-tf', tarFile], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .sort();
    expect(names).toEqual([
      'lab/Project/files/notes.txt',
      'lab/Project/sub-01/ses-01/T1w/files/notes.txt',
      'lab/Project/sub-01/ses-01/T1w/files/scan.nii.gz',
    ]);

    const single = path.join(work, 'one.txt');
    expect(await cli.ok(['download', 'lab/Project/sub-01/ses-01/T1w/files/notes.txt', '-o', single])).toBe(`Downloaded: ${single} (6 B)\n`);
    expect(await cli.ok(['download', 'lab/Project/sub-01/ses-01/T1w/files/notes.txt', '-o', single])).toBe(
      `Already complete: ${single} (6 B)\n`,
    );
  });

  it('an interrupted download resumes with Range to a hash-identical result; wrong local files are replaced', async () => {
    const big = randomBytes(12 << 20);
    const up = await s.admin.upload(`/acquisitions/${ids.acquisition}/files`, [{ name: 'big.bin', content: new Blob([big]) }]);
    expect(up.status).toBe(200);
    const dest = path.join(work, 'resume');
    const target = path.join(dest, 'lab/Project/sub-01/ses-01/T1w/files/big.bin');
    const part = path.join(path.dirname(target), `.big.bin.${sha384(big).slice(0, 16)}.part`);

    // Throttled so the kill lands mid-file.
    const child = cli.spawn(['download', 'lab/Project', '-o', dest, '--jobs', '1', '--limit-rate', '6M']);
    const midway = await eventually(() => (fs.statSync(part, { throwIfNoEntry: false })?.size ?? 0) > 2 << 20, 20_000, 20);
    child.kill('SIGKILL');
    await exited(child);
    expect(midway).toBe(true);
    const partial = fs.statSync(part).size;
    expect(partial).toBeLessThan(big.length);
    expect(fs.existsSync(target)).toBe(false);

    // A file already there with the right size but wrong bytes is not trusted.
    const notes = path.join(dest, 'lab/Project/sub-01/ses-01/T1w/files/notes.txt');
    fs.mkdirSync(path.dirname(notes), { recursive: true });
    fs.writeFileSync(notes, 'HELLO\n');

    const out = await cli.ok(['download', 'lab/Project', '-o', dest]);
    expect(out).toMatch(/4 files .*: \d downloaded, 1 resumed/);
    expect(sha384(fs.readFileSync(target))).toBe(sha384(big));
    expect(fs.readFileSync(notes, 'utf8')).toBe('hello\n');
    expect(fs.existsSync(part)).toBe(false);
    expect(await cli.ok(['download', 'lab/Project', '-o', dest])).toMatch(/: 0 downloaded, 4 already complete\n$/);
  });

  it('view: a table over the project as CSV or JSON, one row per matching file', async () => {
    const csv = await cli.ok([
      'view',
      'lab/Project',
      '-c',
      'subject.label',
      '-c',
      'acquisition.label=acq',
      '-c',
      'file.name',
      '--file-filter',
      '*.txt',
      '--no-ids',
    ]);
    const lines = csv.trim().split('\n');
    expect(lines[0]).toContain('subject.label');
    expect(lines[0]).toContain('acq');
    expect(lines.slice(1)).toContainEqual(expect.stringMatching(/sub-01,.*T1w,notes\.txt|sub-01.*notes\.txt/));
    const out = path.join(work, 'view.json');
    await cli.ok([
      'view',
      'lab/Project',
      '-c',
      'subject.label',
      '-c',
      'file.name',
      '--file-filter',
      '*.nii.gz',
      '--format',
      'json',
      '-o',
      out,
    ]);
    const rows = JSON.parse(fs.readFileSync(out, 'utf8')).data;
    expect(rows).toEqual([expect.objectContaining({ 'subject.label': 'sub-01', 'file.name': 'scan.nii.gz' })]);
    expect(await cli.fails(['view', 'lab/Project', '-c', 'nonsense'])).toMatch(/^error: --column nonsense: a column source is/);
  });
});
