import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gearArchive, manifest, uploadArchive } from '../../server/test/gear-kit.js';
import { ok } from '../../server/test/people.js';
import { BIN, Cli, eventually, startTestServer, type TestServer, tempDir } from './helpers.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

/**
 * `batch run`'s proposal table: matched containers by subject and session (sorted), then the
 * ambiguous and unmatched ones with the reason; it asks before launching on a terminal, refuses
 * without one unless --yes, and a dry run leaves no batch behind.
 */
describe('batch run proposals', () => {
  let s: TestServer;
  let cli: Cli;
  const batches = async () => ok(await s.admin.get('/batch')) as any[];
  const pendingJobs = async () => (ok(await s.admin.get('/jobs?filter=state=pending')) as any[]).length;

  beforeAll(async () => {
    s = await startTestServer();
    ok(await s.admin.post('/groups', { _id: 'lab', label: 'Lab' }));
    const project = ok(await s.admin.post('/projects', { group: 'lab', label: 'Study' }))._id;
    // Created out of order: the table sorts by subject, session, acquisition (numbers as numbers).
    for (const [sub, ses, acqs] of [
      ['sub-10', 'ses-1', ['T1w']],
      ['sub-2', 'ses-2', ['T1w', 'DWI']],
      ['sub-2', 'ses-1', ['T2w', 'T1w']],
    ] as const) {
      const subjects = ok(await s.admin.get(`/projects/${project}/subjects`)) as any[];
      const subject = subjects.find((x) => x.label === sub)?._id ?? ok(await s.admin.post('/subjects', { project, label: sub }))._id;
      const session = ok(await s.admin.post('/sessions', { project, subject: { _id: subject }, label: ses }))._id;
      for (const label of acqs) {
        const acq = ok(await s.admin.post('/acquisitions', { session, label }))._id;
        const files = label === 'T2w' ? ['x.txt', 'y.txt'] : label === 'DWI' ? ['dwi.nii'] : [`${sub}-${ses}.txt`];
        for (const name of files) ok(await s.admin.upload(`/acquisitions/${acq}/files`, [{ name, content: name }]));
      }
    }
    ok(
      await uploadArchive(
        s.admin,
        await gearArchive(manifest({ name: 'texty', inputs: { text: { base: 'file', name: { pattern: '\\.txt$' } } } })),
      ),
    );
    cli = new Cli();
    await cli.login(s.admin.key!);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('shows matched containers sorted by subject and session, then the ambiguous and unmatched with why; a dry run keeps nothing', async () => {
    const out = await cli.ok(['batch', 'run', 'texty', 'lab/Study', '--dry-run']);
    const lines = out.split('\n');
    expect(lines[0]).toBe('Proposal (dry run) for texty 1.0.0 over lab/Study:');
    expect(lines[1]).toMatch(/^SUBJECT\s+SESSION\s+ACQUISITION\s+INPUTS$/);
    expect(lines.slice(2, 5).map((l) => l.split(/\s+/).slice(0, 3).join(' '))).toEqual([
      'sub-2 ses-1 T1w',
      'sub-2 ses-2 T1w',
      'sub-10 ses-1 T1w',
    ]);
    expect(lines[2]).toMatch(/text: sub-2-ses-1\.txt$/);
    expect(out).toContain('Ambiguous (1, not run):\n  lab/Study/sub-2/ses-1/T2w: input text: 2 files match (x.txt, y.txt)\n');
    expect(out).toContain(
      'Not matched (1, not run):\n  lab/Study/sub-2/ses-2/DWI: input text: no file matches (name {"pattern":"\\\\.txt$"}; 1 file here)\n',
    );
    expect(out).toContain(
      '3 matched, 1 ambiguous, 1 not matched, 0 without permission\nDry run: nothing was queued and no batch was kept.\n',
    );
    expect(await batches()).toEqual([]);
    expect((await cli.json(['batch', 'run', 'texty', 'lab/Study', '--dry-run']))._id).toBeNull();
    expect(await batches()).toEqual([]);
  });

  it('without a terminal refuses to launch unless --yes, leaving no batch; --yes launches', async () => {
    expect(await cli.fails(['batch', 'run', 'texty', 'lab/Study'])).toBe(
      'error: batch run asks before launching and there is no terminal here: add --yes to launch, or --dry-run to only look',
    );
    expect(await batches()).toEqual([]);
    expect(await pendingJobs()).toBe(0);
    const out = await cli.ok(['batch', 'run', 'texty', 'lab/Study/sub-10', '--yes']);
    expect(out).toMatch(/Started batch [0-9a-f]{24}: 1 jobs queued\n$/);
    expect(await pendingJobs()).toBe(1);
    const ls = await cli.ok(['batch', 'ls']);
    expect(ls).toMatch(/^ID\s+STATE\s+GEAR\s+OVER\s+JOBS\s+CREATED$/m);
    expect(ls).toMatch(/[0-9a-f]{24}\s+running\s+texty@1\.0\.0\s+lab\/Study\/sub-10\s+1\s/);
  });

  describe.skipIf(!hasTmux)('on a terminal', () => {
    const socket = `sprocket-batch-test-${process.pid}-${randomBytes(3).toString('hex')}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
    let n = 0;
    const start = (args: string[]): string => {
      const w = `w${n++}`;
      const quoted = args.map((a) => `'${a}'`).join(' ');
      const command = `cd '${tempDir()}' && env -i HOME=${cli.home} PATH=${process.env.PATH} TERM=xterm LANG=C.UTF-8 '${process.execPath}' '${BIN}' ${quoted}; echo EXIT=$?; sleep 600`;
      if (n === 1) tmux('new-session', '-d', '-s', 'b', '-n', w, '-x', '160', '-y', '50', command);
      else tmux('new-window', '-t', 'b:', '-n', w, command);
      return w;
    };
    const screen = (w: string) => tmux('capture-pane', '-p', '-t', `b:${w}`);
    const waitFor = async (w: string, text: string) => {
      const seen = await eventually(() => screen(w).includes(text), 20_000, 100);
      if (!seen) throw new Error(`terminal never showed ${text}:\n${screen(w)}`);
      return screen(w);
    };
    const type = (w: string, text: string) => {
      tmux('send-keys', '-t', `b:${w}`, '-l', text);
      tmux('send-keys', '-t', `b:${w}`, 'Enter');
    };
    afterAll(() => {
      spawnSync('tmux', ['-L', socket, 'kill-server']);
    });

    it('asks "Launch N jobs? [y/N]": no (or Enter) queues nothing and keeps no pending batch; y launches', async () => {
      const before = await pendingJobs();
      const declined = start(['batch', 'run', 'texty', 'lab/Study']);
      await waitFor(declined, 'Launch 3 jobs? [y/N]');
      type(declined, '');
      const after = await waitFor(declined, 'EXIT=');
      expect(after).toMatch(/Nothing was queued \(proposal [0-9a-f]{24} cancelled\)\./);
      expect(after).toContain('EXIT=0');
      expect(await pendingJobs()).toBe(before);
      expect((await batches()).filter((b) => b.state === 'pending')).toEqual([]);

      const accepted = start(['batch', 'run', 'texty', 'lab/Study/sub-2']);
      await waitFor(accepted, 'Launch 2 jobs? [y/N]');
      type(accepted, 'y');
      expect(await waitFor(accepted, 'EXIT=')).toMatch(/Started batch [0-9a-f]{24}: 2 jobs queued/);
      expect(await pendingJobs()).toBe(before + 2);
    });
  });
});
