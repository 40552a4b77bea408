import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHierarchy } from '../../server/test/helpers.js';
import { Cli, startTestServer, type TestServer, tempDir } from './helpers.js';

/** `sprocket view` against a real server: columns in the order asked, files read with --process-files. */
describe('sprocket view', () => {
  let s: TestServer;
  let cli: Cli;
  let ids: Awaited<ReturnType<typeof makeHierarchy>>;
  beforeAll(async () => {
    s = await startTestServer();
    ids = await makeHierarchy(s.admin, 'vlab');
    const acq2 = (await s.admin.post('/acquisitions', { session: ids.session, label: 'FLAIR' })).body._id;
    for (const [acq, n] of [
      [ids.acquisition, 1],
      [acq2, 2],
    ] as const) {
      const up = await s.admin.upload(
        `/acquisitions/${acq}/files`,
        [{ name: 'volumes.csv', content: `region,volume\nleft,${n}00.5\nright,bad\n` }],
        { info: { snr: 10 * n } },
      );
      expect(up.status).toBe(200);
      const a = (await s.admin.post(`/acquisitions/${acq}/analyses`, { label: 'segmentation' })).body._id;
      expect(
        (
          await s.admin.upload(`/acquisitions/${acq}/analyses/${a}/files`, [
            { name: 'stats.json', content: `[{"tissue": "gm", "frac": 0.4${n}}]` },
          ])
        ).status,
      ).toBe(200);
    }
    cli = new Cli();
    await cli.login(s.admin.key!);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('gives the columns asked for in that order; ids and labels only with --ids and --labels', async () => {
    const csv = await cli.ok([
      'view',
      'vlab/Project',
      '-c',
      'acquisition.label=acq',
      '-c',
      'file.info.snr:int=snr',
      '-c',
      'subject.label',
      '--file-filter',
      '*.csv',
    ]);
    expect(csv.trim().split('\n')).toEqual(['acq,snr,subject.label', 'T1w,10,sub-01', 'FLAIR,20,sub-01']);
    const withIds = await cli.ok(['view', 'vlab/Project', '-c', 'session.label', '--ids']);
    expect(withIds.trim().split('\n')).toEqual([
      'project.id,subject.id,session.id,session.label',
      `${ids.project},${ids.subject},${ids.session},ses-01`,
    ]);
    const withLabels = await cli.ok([
      'view',
      'vlab/Project',
      '-c',
      'file.size',
      '--file-filter',
      'volumes.csv',
      '--labels',
      '--match',
      'first',
    ]);
    expect(withLabels.split('\n')[0]).toBe('project.label,subject.label,session.label,acquisition.label,file.name,file.size');
  });

  it('reads the rows inside files with --process-files, typed by --file-column, from analyses with --analysis-label', async () => {
    const out = path.join(tempDir(), 'volumes.json');
    await cli.ok([
      'view',
      'vlab/Project',
      '-c',
      'acquisition.label',
      '--file-filter',
      'volumes.csv',
      '--process-files',
      '--file-column',
      'region',
      '--file-column',
      'volume:float=ml',
      '--format',
      'json',
      '-o',
      out,
    ]);
    expect(JSON.parse(fs.readFileSync(out, 'utf8')).data).toEqual([
      { 'acquisition.label': 'T1w', region: 'left', ml: 100.5 },
      { 'acquisition.label': 'T1w', region: 'right', ml: null },
      { 'acquisition.label': 'FLAIR', region: 'left', ml: 200.5 },
      { 'acquisition.label': 'FLAIR', region: 'right', ml: null },
    ]);
    const dropped = await cli.ok([
      'view',
      'vlab/Project',
      '-c',
      'acquisition.label',
      '--file-filter',
      'volumes.csv',
      '--process-files',
      '--file-column',
      'volume:float',
      '--drop-missing',
      '--format',
      'tsv',
    ]);
    expect(dropped.trim().split('\n')).toEqual(['acquisition.label\tvolume', 'T1w\t100.5', 'FLAIR\t200.5']);
    const fromAnalyses = await cli.ok([
      'view',
      'vlab/Project',
      '-c',
      'acquisition.label',
      '-c',
      'analysis.label',
      '--file-filter',
      '*.json',
      '--process-files',
      '--analysis-label',
      'seg*',
      '--file-column',
      'frac:float',
    ]);
    expect(fromAnalyses.trim().split('\n')).toEqual([
      'acquisition.label,analysis.label,frac',
      'T1w,segmentation,0.41',
      'FLAIR,segmentation,0.42',
    ]);
    expect(
      (await cli.ok(['view', 'vlab/Project', '-c', 'analysis.label', '--file-filter', '*.json', '--analysis-gear', 'nifti-qa'])).trim(),
    ).toBe('analysis.label');
  });

  it('says what is wrong in one line', async () => {
    expect(await cli.fails(['view', 'vlab/Project', '-c', 'subject.label', '--process-files'])).toBe(
      "error: --process-files needs --file-filter (which files to read, e.g. '*_qa.csv')",
    );
    expect(await cli.fails(['view', 'vlab/Project', '-c', 'file.name', '--file-filter', '*.csv', '--file-column', 'x'])).toBe(
      'error: --file-column reads fields inside files: add --process-files',
    );
    expect(await cli.fails(['view', 'vlab/Project', '-c', 'file.info.snr:double', '--file-filter', '*.csv'])).toMatch(
      /^error: --column file\.info\.snr:double: the type after ':' is one of string, int, float, bool$/,
    );
    expect(await cli.fails(['view', 'vlab/Project'])).toMatch(/^error: give at least one --column/);
    // The server's refusal, naming the file.
    expect(
      await cli.fails([
        'view',
        'vlab/Project',
        '-c',
        'acquisition.label',
        '--file-filter',
        '*.csv',
        '--process-files',
        '--file-format',
        'json',
      ]),
    ).toMatch(/^error: .*fileSpec: file 'volumes\.csv' on acquisition 'T1w' \([0-9a-f]{24}\): not valid JSON/);
  });
});
