import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zipBuffer as zipOf } from '../../../test-fixtures/zip.js';
import { type Acquisition, ApiError, type Client, type Project, SdkError, type Session, type Subject } from '../src/index.js';
import { adminKey, recordingClient, startTestServer, type TestServer, uniq } from './helpers.js';

/** Flywheel's zip-member calls (`get_file_zip_info`, `download_file_zip_member`, `read_file_zip_member`) and `get_analyses(cont, id, sub)`. */

let s: TestServer;
let fw: Client;
let tmp: string;
let project: Project;
let subject: Subject;
let session: Session;
let acq: Acquisition;

beforeAll(async () => {
  s = await startTestServer();
  fw = recordingClient(adminKey(s)).fw;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sdk-zip-'));
  const group = await fw.addGroup({ id: uniq('zips') });
  project = await group.addProject({ label: 'Zips' });
  subject = await project.addSubject({ label: 'sub-01' });
  session = await subject.addSession({ label: 'ses-01' });
  acq = await session.addAcquisition({ label: 'T1w' });
});
afterAll(async () => {
  await s?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('zip members', () => {
  it('lists, reads and downloads members, on the file and on its container', async () => {
    const big = Buffer.from('slice '.repeat(50_000));
    const file = await acq.uploadFile({
      name: 'series.zip',
      data: await zipOf({ 'series/1.dcm': big, 'series/2.dcm': 'two', 'README.txt': 'read me' }),
    });
    const info = await file.getZipInfo();
    expect(info.members.map((m) => [m.path, m.size])).toEqual([
      ['series/1.dcm', big.length],
      ['series/2.dcm', 3],
      ['README.txt', 7],
    ]);
    expect(info.members[0]!.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    expect(await acq.getFileZipInfo('series.zip')).toEqual(info);

    expect((await file.readZipMember('series/1.dcm')).equals(big)).toBe(true);
    expect((await acq.readFileZipMember('series.zip', 'series/2.dcm')).toString()).toBe('two');
    // Into a directory: the member's base name; to a path: that path.
    const inDir = await file.downloadZipMember('series/1.dcm', tmp);
    expect(inDir).toBe(path.join(tmp, '1.dcm'));
    expect(fs.readFileSync(inDir).equals(big)).toBe(true);
    const named = await acq.downloadFileZipMember('series.zip', 'README.txt', path.join(tmp, 'out', 'readme-copy.txt'));
    expect(fs.readFileSync(named, 'utf8')).toBe('read me');
    expect(fs.readdirSync(path.join(tmp, 'out'))).toEqual(['readme-copy.txt']);
  });

  it('a missing member or a file that is not a zip is an ApiError; nothing is left on disk', async () => {
    await acq.uploadFile({ name: 'plain.txt', data: 'no zip here, only text of some length' });
    const notZip = await acq.getFileZipInfo('plain.txt').catch((e: unknown) => e);
    expect(notZip).toBeInstanceOf(ApiError);
    expect((notZip as ApiError).status).toBe(400);
    const dest = path.join(tmp, 'missing');
    fs.mkdirSync(dest);
    const missing = await acq.downloadFileZipMember('series.zip', 'nope.dcm', dest).catch((e: unknown) => e);
    expect((missing as ApiError).status).toBe(404);
    expect(fs.readdirSync(dest)).toEqual([]);
  });
});

describe('analysesOf', () => {
  it("finds the analyses of a container's children, or all below it", async () => {
    await project.addAnalysis({ label: 'p' });
    await session.addAnalysis({ label: 's' });
    await acq.addAnalysis({ label: 'a' });
    const labels = async (f: ReturnType<Project['analysesOf']>) => (await f.find()).map((a) => a.label).sort();
    expect(await labels(project.analysesOf('sessions'))).toEqual(['s']);
    expect(await labels(project.analysesOf('acquisitions'))).toEqual(['a']);
    expect(await labels(project.analysesOf('all'))).toEqual(['a', 'p', 's']);
    expect(await labels(subject.analysesOf('all'))).toEqual(['a', 's']);
    expect(await labels(session.analysesOf('acquisitions'))).toEqual(['a']);
    expect(await labels(acq.analysesOf('all'))).toEqual(['a']);
    expect((await project.analysesOf('all').find('label=s')).map((a) => a.label)).toEqual(['s']);
    expect(() => acq.analysesOf('sessions')).toThrow(SdkError);
  });
});
