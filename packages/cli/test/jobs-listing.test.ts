import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineProcess, startEngine, waitForJob } from '../../engine/test/engines.js';
import { gearArchive, manifest, uploadArchive } from '../../server/test/gear-kit.js';
import { makeHierarchy } from '../../server/test/helpers.js';
import { makeUser, ok } from '../../server/test/people.js';
import { scaffoldRun } from '../src/gears/scaffold.js';
import { BIN, Cli, eventually, startTestServer, type TestServer, tempDir } from './helpers.js';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * `job ls [path]` shows every job on the data, rule jobs included, with the gear, the destination's
 * path and who launched it; `job status` of a failed job says what the gear last complained about.
 */
describe('job ls with a path, and failure reasons in job status', () => {
  let s: TestServer;
  let engine: EngineProcess;
  let admin: Cli;
  let bob: Cli;
  let ids: Awaited<ReturnType<typeof makeHierarchy>>;
  let ruleJob: string;
  let failed: string;

  beforeAll(async () => {
    s = await startTestServer();
    engine = startEngine(fs.readFileSync(path.join(s.dataDir, 'engine-api-key'), 'utf8').trim(), { concurrency: 2 });
    ids = await makeHierarchy(s.admin, 'lab');
    await makeUser(s, 'bob@lab.org');
    ok(await s.admin.post('/groups/lab/permissions', { _id: 'bob@lab.org', access: 'ro' }));
    admin = new Cli();
    await admin.login(s.admin.key!);
    bob = new Cli();
    await bob.login(ok(await s.admin.post('/users/bob%40lab.org/key', {})).key);

    const up = async (m: Record<string, unknown>, run: string) =>
      ok(await uploadArchive(s.admin, await gearArchive(m, { files: { run } })))._id as string;
    const counter = await up(
      manifest({ name: 'count-texts', inputs: { file: { base: 'file', name: { pattern: '\\.txt$' } } } }),
      '#!/bin/bash\necho counted\n',
    );
    await up(
      manifest({ name: 'grumpy', version: '2.0.0' }),
      '#!/bin/bash\necho "starting"\necho "grumpy: cannot open input/scan: No such file or directory" >&2\nexit 1\n',
    );
    const rid = ok(
      await s.admin.post(`/projects/${ids.project}/rules`, {
        name: 'count texts',
        gear_id: counter,
        any: [],
        all: [{ type: 'file.name', value: '*.txt' }],
        not: [],
      }),
    )._id;
    ok(await s.admin.upload(`/acquisitions/${ids.acquisition}/files`, [{ name: 'a.txt', content: 'alpha\n' }]));
    let found: any[] = [];
    const ruleJobs = async () => {
      found = ok(await s.admin.get(`/jobs?filter=origin.id=rule:${rid}`));
      return found.length === 1;
    };
    expect(await eventually(ruleJobs, 10_000)).toBe(true);
    ruleJob = found[0]._id;
    await waitForJob(s.admin, ruleJob);
    failed =
      /Queued job ([0-9a-f]{24})/.exec(await admin.ok(['job', 'run', 'grumpy', '--destination', 'lab/Project/sub-01/ses-01']))?.[1] ?? '';
  });
  afterAll(async () => {
    await engine?.stop();
    await s?.stop();
  });

  it('lists every job on a project for a reader who launched none, rule jobs included', async () => {
    expect(await bob.ok(['job', 'ls'])).toBe('(no jobs)\n');
    const out = await bob.ok(['job', 'ls', 'lab/Project']);
    const [header, ...rows] = out.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+STATE\s+GEAR\s+DESTINATION\s+LAUNCHED BY\s+QUEUED\s+ELAPSED$/);
    const rule = rows.find((r) => r.startsWith(ruleJob));
    expect(rule, out).toMatch(
      /complete\s+count-texts@1\.0\.0\s+lab\/Project\/sub-01\/ses-01\/T1w\s+rule:count texts\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+[\d.]+s$/,
    );
    expect(
      rows.some((r) => r.startsWith(failed) && /grumpy@2\.0\.0\s+lab\/Project\/sub-01\/ses-01\s+\S*admin\S*\s/.test(r)),
      out,
    ).toBe(true);
    // Below a container: the session's jobs, not the project's others.
    const below = await bob.json(['job', 'ls', 'lab/Project/sub-01/ses-01/T1w']);
    expect(below.map((j: any) => j._id)).toEqual([ruleJob]);
    expect(await bob.ok(['job', 'ls', 'lab/Project', '--gear', 'grumpy', '--state', 'failed'])).toMatch(
      new RegExp(`^ID.*\\n${failed}\\s+failed\\s+grumpy@2\\.0\\.0`),
    );
  });

  it('refuses what it cannot list with one line', async () => {
    expect(await bob.fails(['job', 'ls', 'lab'])).toBe(
      'error: lab is a group: list the jobs of one of its projects (sprocket job ls lab/<project>)',
    );
    expect(await bob.fails(['job', 'ls', 'lab/Project', '--gear', 'a,state=x'])).toBe(
      "error: --gear: 'a,state=x' is not a gear name (lower-case letters, digits and hyphens)",
    );
    expect(await bob.fails(['job', 'ls', 'lab/Nope'])).toMatch(/^error: .*lab\/Nope/);
  });

  it('--all lists what a non-admin may see; job status of a failed job quotes the gear', async () => {
    const all = await bob.json(['job', 'ls', '--all']);
    expect(all.map((j: any) => j._id)).toEqual(expect.arrayContaining([ruleJob, failed]));
    const job = await waitForJob(s.admin, failed);
    expect(job.state, engine.output()).toBe('failed');
    const status = await bob.ok(['job', 'status', failed]);
    expect(status).toContain(
      `Job ${failed}: failed (the gear exited with code 1: grumpy: cannot open input/scan: No such file or directory)`,
    );
    expect(status).toMatch(
      new RegExp(`\n  destination  lab/Project/sub-01/ses-01 \\(session ${ids.session}\\)\n  launched by  \\S*admin\\S*\n`),
    );
    expect((await bob.json(['job', 'status', failed])).failure_reason).toBe(
      'the gear exited with code 1: grumpy: cannot open input/scan: No such file or directory',
    );
  });
});

describe('small fixes', () => {
  it("the root help's job run example names an input the shipped dcm2niix gear has", () => {
    const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
    expect(help.status, help.stderr).toBe(0);
    const example = /sprocket job run (\S+) --([a-z0-9_]+)=/.exec(help.stdout);
    expect(example, help.stdout).not.toBeNull();
    const m = JSON.parse(fs.readFileSync(path.join(ROOT, 'gears', example![1]!, 'manifest.json'), 'utf8'));
    expect(Object.keys(m.inputs)).toContain(example![2]!);
  });

  it("the scaffolded gear names its output after the input without the input's extension", () => {
    const dir = tempDir('sprocket-scaffold-');
    fs.writeFileSync(path.join(dir, 'run'), scaffoldRun('Counter'), { mode: 0o755 });
    const cases: [string, string][] = [
      ['notes.txt', 'summary_notes.txt'],
      ['scan.nii.gz', 'summary_scan.txt'],
      ['T1w', 'summary_T1w.txt'],
    ];
    for (const [input, output] of cases) {
      fs.rmSync(path.join(dir, 'input'), { recursive: true, force: true });
      fs.rmSync(path.join(dir, 'output'), { recursive: true, force: true });
      fs.mkdirSync(path.join(dir, 'input', 'input_file'), { recursive: true });
      fs.mkdirSync(path.join(dir, 'output'));
      fs.writeFileSync(path.join(dir, 'input', 'input_file', input), 'one\ntwo\n');
      const r = spawnSync('bash', ['./run'], { cwd: dir, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(fs.readdirSync(path.join(dir, 'output'))).toEqual([output]);
    }
  });

  it('bench/generate-dicom.ts --help prints the usage and exits 0; a bad option is one line, no stack trace', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'generate-dicom.ts'), ...args], {
        encoding: 'utf8',
        cwd: ROOT,
      });
    const help = run('--help');
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^usage: npx tsx bench\/generate-dicom\.ts <out dir>/);
    expect(help.stdout).toContain('--subjects N');
    const bad = run('--subject', '3');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^generate-dicom: Unknown option '--subject'/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});
