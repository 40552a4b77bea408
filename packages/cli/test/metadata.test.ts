import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addGear, EngineSim, engineKeyOf, manifest } from '../../server/test/gear-kit.js';
import { makeHierarchy } from '../../server/test/helpers.js';
import { BIN, Cli, eventually, startTestServer, type TestServer, tempDir } from './helpers.js';

const LONG = 240_000;
const hasTmux = spawnSync('tmux', ['-V']).status === 0;

/** `sprocket <args>` on a real terminal (a detached tmux window); answers typed in, screen read back. */
class Terminal {
  private readonly socket = `sprocket-meta-test-${process.pid}`;
  private readonly t = (...args: string[]) => execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
  start(cli: Cli, args: string[]): void {
    const quoted = args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const env = `env -i HOME=${cli.home} PATH=${process.env.PATH} TERM=xterm-256color LANG=C.UTF-8`;
    this.t(
      'new-session',
      '-d',
      '-s',
      'm',
      '-x',
      '200',
      '-y',
      '20',
      `${env} '${process.execPath}' '${BIN}' ${quoted}; echo EXIT=$?; sleep 600`,
    );
  }
  async waitFor(text: string): Promise<string> {
    let screen = '';
    const seen = await eventually(
      () => {
        screen = this.t('capture-pane', '-p', '-t', 'm');
        return screen.includes(text);
      },
      60_000,
      100,
    );
    if (!seen) throw new Error(`never showed ${text}:\n${screen}`);
    return screen;
  }
  type(text: string): void {
    this.t('send-keys', '-t', 'm', '-l', text);
    this.t('send-keys', '-t', 'm', 'Enter');
  }
  close(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server']);
  }
}
const ACQ = 'lab/Project/sub-01/ses-01/T1w';
const SCAN = `${ACQ}/files/scan.nii.gz`;

describe('metadata from the command line: info, tags, versions, rm, mv', () => {
  let s: TestServer;
  let cli: Cli;
  let ids: Awaited<ReturnType<typeof makeHierarchy>>;
  let me: string;
  let jobId: string;
  beforeAll(async () => {
    s = await startTestServer();
    ids = await makeHierarchy(s.admin, 'lab');
    me = (await s.admin.get('/users/self')).body._id;
    cli = new Cli();
    await cli.login(s.admin.key!);
    const work = tempDir();
    fs.writeFileSync(path.join(work, 'scan.nii.gz'), 'first upload');
    await cli.ok(['upload', ACQ, path.join(work, 'scan.nii.gz')]);
    // Version 2 of the same file comes out of a job, through the engine protocol.
    const gear = manifest({ name: 'qa-gear', version: '1.2.0' });
    const gearId = await addGear(s.admin, gear);
    jobId = (await s.admin.post('/jobs/add', { gear_id: gearId, destination: { type: 'acquisition', id: ids.acquisition } })).body._id;
    const engine = new EngineSim(s.as(engineKeyOf(s)));
    const [job] = await engine.ask({ whitelist: { 'gear-name': ['qa-gear'] } });
    expect(job.id).toBe(jobId);
    const done = await engine.finish(job, true, [{ name: 'scan.nii.gz', content: 'made by the gear' }], {
      acquisition: {
        files: [
          {
            name: 'scan.nii.gz',
            modality: 'MR',
            classification: { Intent: ['Structural'] },
            info: { header: { dicom: { SeriesDescription: 'T1w MPRAGE', EchoTime: 2.9 } }, qa: { snr: 30 } },
          },
        ],
      },
    });
    expect(done.status).toBe(200);
  }, LONG);
  afterAll(async () => {
    await s?.stop();
  });

  it(
    'file versions names the upload and the job (gear and launcher) behind each version',
    async () => {
      const table = await cli.ok(['file', 'versions', SCAN]);
      const rows = table.trim().split('\n');
      expect(rows[0]).toMatch(/^VERSION\s+SIZE\s+CREATED\s+STATE\s+HASH\s+MADE BY$/);
      expect(rows[1]).toMatch(new RegExp(`^\\s*1\\s+12 B\\s+\\S+ \\S+\\s+replaced\\s+[0-9a-f]{12}\\s+upload by ${me}$`));
      expect(rows[2]).toMatch(
        new RegExp(`^\\s*2\\s+16 B\\s+\\S+ \\S+\\s+current\\s+[0-9a-f]{12}\\s+job ${jobId} \\(qa-gear@1\\.2\\.0, launched by ${me}\\)$`),
      );
      const json = await cli.json(['file', 'versions', SCAN]);
      expect(json.map((v: any) => v.origin)).toEqual([
        { type: 'user', id: me },
        {
          type: 'job',
          id: jobId,
          gear_info: { id: expect.any(String), name: 'qa-gear', version: '1.2.0' },
          launched_by: { type: 'user', id: me },
        },
      ]);
      expect(await cli.fails(['file', 'versions', ACQ])).toMatch(/is not a file \(file paths end in \/files\/<name>\)$/);
    },
    LONG,
  );

  it(
    'info shows a file: classification, modality, DICOM header, origin; --json the whole document',
    async () => {
      const out = await cli.ok(['info', SCAN]);
      expect(out).toMatch(/^file\s+scan\.nii\.gz$/m);
      expect(out).toMatch(/^modality\s+MR$/m);
      expect(out).toMatch(/^classification\s+Intent: Structural$/m);
      expect(out).toMatch(/^version\s+2$/m);
      expect(out).toMatch(new RegExp(`^origin\\s+job ${jobId} \\(qa-gear@1\\.2\\.0, launched by ${me}\\)$`, 'm'));
      expect(out).toMatch(/DICOM header:\n {2}\{\n {4}"SeriesDescription": "T1w MPRAGE"/);
      expect(out).toMatch(/info:\n {2}\{\n {4}"qa": \{/);
      const doc = await cli.json(['info', SCAN]);
      expect(doc).toMatchObject({
        name: 'scan.nii.gz',
        version: 2,
        info: { header: { dicom: { EchoTime: 2.9 } } },
        origin: { type: 'job', id: jobId, gear_info: { name: 'qa-gear' } },
      });
      const acq = await cli.ok(['info', ACQ]);
      expect(acq).toMatch(new RegExp(`^acquisition\\s+T1w\\nid\\s+${ids.acquisition}$`, 'm'));
      expect(acq).toMatch(/^files\s+scan\.nii\.gz$/m);
      // A bare container id is a path too.
      expect((await cli.json(['info', ids.session])).label).toBe('ses-01');
      expect(await cli.fails(['info', 'lab/Nope'])).toMatch(/^error: not found: lab\/Nope/);
    },
    LONG,
  );

  it(
    'info set / info rm edit container and file info, dotted keys reaching into objects',
    async () => {
      expect(
        await cli.ok(['info', 'set', 'lab/Project/sub-01', 'cohort=pilot', 'visits=3', 'site.name=Oslo', 'site.scanner={"vendor":"GE"}']),
      ).toBe('Set cohort, visits, site.name, site.scanner on lab/Project/sub-01\n');
      expect((await s.admin.get(`/subjects/${ids.subject}`)).body.info).toEqual({
        cohort: 'pilot',
        visits: 3,
        site: { name: 'Oslo', scanner: { vendor: 'GE' } },
      });
      await cli.ok(['info', 'set', 'lab/Project/sub-01', 'site.city=Bergen']);
      expect((await s.admin.get(`/subjects/${ids.subject}`)).body.info.site).toEqual({
        name: 'Oslo',
        scanner: { vendor: 'GE' },
        city: 'Bergen',
      });
      expect(await cli.ok(['info', 'rm', 'lab/Project/sub-01', 'visits', 'site.scanner'])).toBe(
        'Removed visits, site.scanner from lab/Project/sub-01\n',
      );
      expect((await s.admin.get(`/subjects/${ids.subject}`)).body.info).toEqual({
        cohort: 'pilot',
        site: { name: 'Oslo', city: 'Bergen' },
      });
      await cli.ok(['info', 'set', SCAN, 'qa.passed=true']);
      const info = (await s.admin.get(`/acquisitions/${ids.acquisition}/files/scan.nii.gz/info`)).body.info;
      expect(info.qa).toEqual({ snr: 30, passed: true });
      expect(info.header.dicom.SeriesDescription).toBe('T1w MPRAGE');
      expect(await cli.fails(['info', 'set', 'lab/Project/sub-01', 'novalue'])).toMatch(/^error: not key=value: 'novalue'/);
      expect(await cli.fails(['info', 'set', 'lab', 'a=1'])).toBe(
        'error: lab is a group, which has no info (containers below groups and files do)',
      );
    },
    LONG,
  );

  it(
    'tag add / tag rm on containers and files',
    async () => {
      expect(await cli.ok(['tag', 'add', 'lab/Project/sub-01/ses-01', 'reviewed', 'motion'])).toBe(
        'Tagged lab/Project/sub-01/ses-01: reviewed, motion\n',
      );
      expect((await s.admin.get(`/sessions/${ids.session}`)).body.tags.sort()).toEqual(['motion', 'reviewed']);
      await cli.ok(['tag', 'rm', 'lab/Project/sub-01/ses-01', 'motion']);
      expect((await s.admin.get(`/sessions/${ids.session}`)).body.tags).toEqual(['reviewed']);
      expect(await cli.fails(['tag', 'rm', 'lab/Project/sub-01/ses-01', 'nope'])).toBe(
        "error: lab/Project/sub-01/ses-01 has no tag 'nope' (its tags: reviewed)",
      );
      await cli.ok(['tag', 'add', SCAN, 'checked']);
      expect((await s.admin.get(`/acquisitions/${ids.acquisition}/files/scan.nii.gz/info`)).body.tags).toEqual(['checked']);
      await cli.ok(['tag', 'rm', SCAN, 'checked']);
      expect((await s.admin.get(`/acquisitions/${ids.acquisition}/files/scan.nii.gz/info`)).body.tags).toEqual([]);
      expect(await cli.ok(['info', 'lab/Project/sub-01/ses-01'])).toMatch(/^tags\s+reviewed$/m);
    },
    LONG,
  );

  it(
    'mv renames containers, moves sessions and acquisitions; rm deletes after confirmation',
    async () => {
      expect(await cli.fails(['mv', 'lab/Project/sub-01/ses-01', 'lab/Project/sub-01/baseline'])).toBe(
        "error: Rename session lab/Project/sub-01/ses-01 to 'baseline': refusing without confirmation; pass --yes (there is no terminal to ask on)",
      );
      expect(await cli.ok(['mv', 'lab/Project/sub-01/ses-01', 'lab/Project/sub-01/baseline', '--yes'])).toBe(
        'Renamed session lab/Project/sub-01/ses-01 to baseline\n',
      );
      expect((await s.admin.get(`/sessions/${ids.session}`)).body.label).toBe('baseline');
      expect(await cli.fails(['mv', `${ACQ.replace('ses-01', 'baseline')}/files/scan.nii.gz`, 'x.nii.gz', '--yes'])).toMatch(
        /^error: renaming or moving files is not supported by the API/,
      );
      const other = (await s.admin.post('/subjects', { project: ids.project, label: 'sub-02' })).body._id;
      expect(other).toBeTruthy();
      expect(await cli.fails(['mv', 'lab/Project/sub-01/baseline', 'lab/Project/sub-01/baseline/T1w', '--yes'])).toBe(
        'error: a session moves into a subject, not an acquisition (lab/Project/sub-01/baseline/T1w)',
      );
      expect(await cli.ok(['mv', 'lab/Project/sub-01/baseline', 'lab/Project/sub-02', '--yes'])).toBe(
        'Moved session baseline into subject lab/Project/sub-02\n',
      );
      expect((await s.admin.get(`/sessions/${ids.session}`)).body.parents.subject).toBe(other);
      expect((await s.admin.get(`/acquisitions/${ids.acquisition}`)).body.parents.subject).toBe(other);
      expect(await cli.fails(['ls', 'lab/Project/sub-01/baseline'])).toMatch(/^error: not found/);
      const moved = 'lab/Project/sub-02/baseline/T1w/files/scan.nii.gz';
      // An acquisition moves into another session (and back).
      const spare = (await s.admin.post('/sessions', { project: ids.project, subject: { _id: other }, label: 'spare' })).body._id;
      await cli.ok(['mv', 'lab/Project/sub-02/baseline/T1w', 'lab/Project/sub-02/spare', '--yes']);
      expect((await s.admin.get(`/acquisitions/${ids.acquisition}`)).body.parents.session).toBe(spare);
      await cli.ok(['mv', 'lab/Project/sub-02/spare/T1w', 'lab/Project/sub-02/baseline', '--yes']);
      expect(await cli.fails(['rm', moved])).toMatch(
        /^error: Delete file .*scan\.nii\.gz \(all 2 versions\): refusing without confirmation; pass --yes/,
      );
      expect(await cli.ok(['rm', moved, '--yes'])).toBe(`Deleted file ${moved}\n`);
      expect((await s.admin.get(`/acquisitions/${ids.acquisition}/files/scan.nii.gz/info`)).status).toBe(404);
      expect(await cli.ok(['rm', ids.acquisition, '--yes'])).toBe(`Deleted acquisition ${ids.acquisition}\n`);
      expect((await s.admin.get(`/acquisitions/${ids.acquisition}`)).status).toBe(404);
    },
    LONG,
  );

  it.skipIf(!hasTmux)(
    'on a terminal rm asks, and only yes deletes',
    async () => {
      await s.admin.upload(`/sessions/${ids.session}/files`, [{ name: 'keep.txt', content: 'k' }]);
      const file = `lab/Project/${(await s.admin.get(`/subjects/${(await s.admin.get(`/sessions/${ids.session}`)).body.parents.subject}`)).body.label}/baseline/files/keep.txt`;
      for (const [answer, kept] of [
        ['n', true],
        ['yes', false],
      ] as const) {
        const term = new Terminal();
        try {
          term.start(cli, ['rm', file]);
          await term.waitFor(`Delete file ${file} (all 1 version)? [y/N]`);
          term.type(answer);
          const screen = await term.waitFor('EXIT=');
          expect(screen).toContain(kept ? 'EXIT=1' : 'EXIT=0');
          if (kept) expect(screen).toContain('not confirmed, nothing done');
          expect((await s.admin.get(`/sessions/${ids.session}/files/keep.txt/info`)).status).toBe(kept ? 200 : 404);
        } finally {
          term.close();
        }
      }
    },
    LONG,
  );
});
