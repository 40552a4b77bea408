import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Acquisition, ApiError, type Client, FileEntry, SdkError } from '../src/index.js';
import { adminKey, recordingClient, startTestServer, type TestServer, uniq } from './helpers.js';

let s: TestServer;
let fw: Client;
let tmp: string;
let acq: Acquisition;

const sha384 = (file: string) =>
  new Promise<string>((resolve, reject) => {
    const h = createHash('sha384');
    fs.createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });

beforeAll(async () => {
  s = await startTestServer();
  fw = recordingClient(adminKey(s)).fw;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sdk-files-'));
  const group = await fw.addGroup({ id: uniq('files') });
  const project = await group.addProject({ label: 'Files' });
  const session = await project.addSession({ label: 'ses-01' });
  acq = await session.addAcquisition({ label: 'T1w' });
});
afterAll(async () => {
  await s?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('files', () => {
  it('uploads from disk and downloads to disk, hash-identical, streaming both ways', async () => {
    // 48 MiB of random bytes: large enough that buffering it whole would show.
    const src = path.join(tmp, 'T1w.dicom.zip');
    const fd = fs.openSync(src, 'w');
    for (let i = 0; i < 48; i++) fs.writeSync(fd, randomBytes(1 << 20));
    fs.closeSync(fd);
    const srcHash = await sha384(src);

    const entry = await acq.uploadFile(src);
    expect(entry).toBeInstanceOf(FileEntry);
    expect(entry).toMatchObject({ name: 'T1w.dicom.zip', type: 'dicom', size: 48 << 20, hash: `v0-sha384-${srcHash}`, version: 1 });
    expect(entry.parent).toBe(acq);
    expect(acq.getFile('T1w.dicom.zip')).toBe(entry);

    await acq.reload();
    const listed = acq.files[0]!;
    expect(listed.parent).toBe(acq);
    expect(listed.ref()).toEqual({ type: 'acquisition', id: acq.id, name: 'T1w.dicom.zip' });

    const dest = path.join(tmp, 'out', 'copy.dicom.zip');
    expect(await listed.download(dest)).toBe(dest);
    expect(await sha384(dest)).toBe(srcHash);
    // no temporary file is left beside it
    expect(fs.readdirSync(path.dirname(dest))).toEqual(['copy.dicom.zip']);

    // a directory as destination keeps the file's own name
    expect(await acq.downloadFile('T1w.dicom.zip', path.join(tmp, 'out'))).toBe(path.join(tmp, 'out', 'T1w.dicom.zip'));
    expect(await sha384(path.join(tmp, 'out', 'T1w.dicom.zip'))).toBe(srcHash);
  });

  it('resumes a broken download from its .part file, and still checks the whole file', async () => {
    const content = randomBytes(8 << 20);
    const entry = await acq.uploadFile({ name: 'resume.bin', data: content });
    const dest = path.join(tmp, 'resume', 'resume.bin');
    fs.mkdirSync(path.dirname(dest), { recursive: true });

    // What a broken earlier attempt left: the first 3 MiB.
    fs.writeFileSync(`${dest}.part`, content.subarray(0, 3 << 20));
    const seen: number[] = [];
    await entry.download(dest, {
      resume: true,
      onProgress: (n, total) => {
        seen.push(n);
        expect(total).toBe(8 << 20);
      },
    });
    expect(seen[0]).toBeGreaterThan(3 << 20);
    expect(seen.at(-1)).toBe(8 << 20);
    expect(fs.readFileSync(dest).equals(content)).toBe(true);
    expect(fs.existsSync(`${dest}.part`)).toBe(false);

    // A download cut off midway leaves its part; the next call completes it.
    fs.rmSync(dest);
    const stop = new AbortController();
    let cutAt = 0;
    const cut = await entry
      .download(dest, {
        resume: true,
        signal: stop.signal,
        onProgress: (n) => {
          if (n >= 2 << 20 && !cutAt) {
            cutAt = n;
            stop.abort();
          }
        },
      })
      .catch((e) => e);
    expect(cut).toBeInstanceOf(Error);
    expect(fs.existsSync(dest)).toBe(false);
    const kept = fs.statSync(`${dest}.part`).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(8 << 20);
    const resumedFrom: number[] = [];
    await entry.download(dest, { resume: true, onProgress: (n) => resumedFrom.push(n) });
    expect(resumedFrom[0]).toBeGreaterThan(kept);
    expect(fs.readFileSync(dest).equals(content)).toBe(true);

    // A part whose bytes are wrong is caught by the final hash, and thrown away.
    fs.rmSync(dest);
    fs.writeFileSync(`${dest}.part`, Buffer.alloc(3 << 20));
    await expect(entry.download(dest, { resume: true })).rejects.toThrow(/corrupt/);
    expect(fs.existsSync(dest)).toBe(false);
    expect(fs.existsSync(`${dest}.part`)).toBe(false);
    await entry.download(dest, { resume: true });
    expect(fs.readFileSync(dest).equals(content)).toBe(true);

    // A part longer than the file starts over.
    fs.writeFileSync(`${dest}.part`, Buffer.alloc(9 << 20));
    await entry.download(dest, { resume: true });
    expect(fs.readFileSync(dest).equals(content)).toBe(true);
  });

  it('streams an upload: the server receives bytes before the source is exhausted', async () => {
    // The source stops halfway until the server has written part of the upload to its staging
    // area; an SDK that collected the body before sending would never get past that point.
    const staging = path.join(s.dataDir, 'files', 'staging');
    const stagedBytes = () =>
      fs
        .readdirSync(staging)
        .filter((f) => f.endsWith('.part'))
        .reduce((n, f) => n + (fs.statSync(path.join(staging, f), { throwIfNoEntry: false })?.size ?? 0), 0);
    const chunk = randomBytes(256 << 10);
    const h = createHash('sha384');
    let sawServerBytes = false;
    async function* source() {
      for (let i = 0; i < 128; i++) {
        if (i === 64) {
          for (let waited = 0; stagedBytes() === 0; waited += 10) {
            if (waited > 30_000) throw new Error('the server received nothing while the source was half read: the upload is not streamed');
            await new Promise((r) => setTimeout(r, 10));
          }
          sawServerBytes = true;
        }
        h.update(chunk);
        yield chunk;
      }
    }
    const entry = await acq.uploadFile({ name: 'stream.bin', data: source() });
    expect(sawServerBytes).toBe(true);
    expect(entry.size).toBe(32 << 20);
    expect(entry.hash).toBe(`v0-sha384-${h.digest('hex')}`);
    expect((await entry.read()).length).toBe(32 << 20);
  });

  it('uploads from memory with metadata, and edits file metadata', async () => {
    const entry = await acq.uploadFile(
      { name: 'report.qa.json', data: JSON.stringify({ snr: 12.5 }) },
      { metadata: { modality: 'MR', info: { source: 'sdk' }, classification: { Intent: ['Structural'] } } },
    );
    expect(entry).toMatchObject({ type: 'qa', modality: 'MR', classification: { Intent: ['Structural'] } });
    expect(JSON.parse((await entry.read()).toString())).toEqual({ snr: 12.5 });

    await entry.updateInfo({ reviewed: true, extra: 1 });
    await entry.deleteInfo('extra');
    await entry.updateClassification({ Intent: ['Functional'], Features: ['Quantitative'] });
    await entry.deleteClassification({ Features: ['Quantitative'] });
    await entry.update({ tags: ['checked'] });
    await entry.reload();
    expect(entry.info).toEqual({ source: 'sdk', reviewed: true });
    expect(entry.classification).toEqual({ Intent: ['Structural', 'Functional'] });
    expect(entry.tags).toEqual(['checked']);
    await entry.replaceClassification({ Measurement: ['T1'] }, { modality: 'CT' });
    await entry.replaceInfo({ fresh: 1 });
    await entry.reload();
    expect(entry).toMatchObject({ classification: { Measurement: ['T1'] }, modality: 'CT', info: { fresh: 1 } });

    // a second upload of the same name is a new version; the old one stays readable
    const v2 = await acq.uploadFile({ name: 'report.qa.json', data: '{"snr": 13}' });
    expect(v2.version).toBe(2);
    expect(JSON.parse((await v2.read({ version: 1 })).toString())).toEqual({ snr: 12.5 });
    expect(acq.files.filter((f) => f.name === 'report.qa.json')).toEqual([v2]);

    // one-shot URLs work without the key
    const url = await v2.getDownloadUrl();
    expect(await (await fetch(url)).text()).toBe('{"snr": 13}');

    // several files in one request; names with spaces, quotes and non-ASCII survive
    const many = await acq.uploadFiles([
      { name: 'a b.txt', data: 'one' },
      { name: 'résumé.txt', data: 'two' },
      { name: `it's "quoted".txt`, data: 'three' },
    ]);
    expect(many.map((f) => f.name)).toEqual(['a b.txt', 'résumé.txt', `it's "quoted".txt`]);
    expect((await acq.readFile(`it's "quoted".txt`)).toString()).toBe('three');
    expect((await acq.readFile('résumé.txt')).toString()).toBe('two');

    await v2.delete();
    await expect(acq.readFile('report.qa.json')).rejects.toMatchObject({ status: 404 });
  });

  it('reports missing local files and refused uploads clearly', async () => {
    await expect(acq.uploadFile(path.join(tmp, 'nope.nii.gz'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(acq.uploadFile({ name: 'two\nlines.txt', data: 'x' })).rejects.toThrow(SdkError);
    const err = await acq.uploadFile({ name: '..', data: 'x' }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, code: 'INVALID_FILE_NAME', method: 'POST' });
    // a failed download leaves nothing behind
    const dest = path.join(tmp, 'failed', 'x.bin');
    await expect(acq.downloadFile('missing.bin', dest)).rejects.toMatchObject({ status: 404 });
    expect(fs.existsSync(dest)).toBe(false);
  });
});
