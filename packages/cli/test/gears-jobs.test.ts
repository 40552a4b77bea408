import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineProcess, startEngine } from '../../engine/test/engines.js';
import { makeHierarchy } from '../../server/test/helpers.js';
import { Cli, eventually, startTestServer, type TestServer, tempDir } from './helpers.js';

const bwrapWorks = spawnSync('bwrap', ['--ro-bind', '/', '/', '--unshare-all', '--', 'true']).status === 0;

/** A gear folder made by `gear create`, with its run script replaced. */
async function gearWith(cli: Cli, label: string, run?: string): Promise<string> {
  const dir = tempDir('sprocket-cli-gear-');
  await cli.ok(['gear', 'create', '--label', label, '--author', 'CLI tests'], { cwd: dir });
  if (run) fs.writeFileSync(path.join(dir, 'run'), `#!/usr/bin/env bash\n${run}\n`, { mode: 0o755 });
  return dir;
}

describe('gear create/local/upload/ls and job run/ls/status/wait/logs/cancel/retry', () => {
  let s: TestServer;
  let engine: EngineProcess;
  let cli: Cli;
  let gearDir: string;
  const input = 'lab/Project/sub-01/ses-01/T1w/files/notes.txt';
  beforeAll(async () => {
    s = await startTestServer();
    engine = startEngine(fs.readFileSync(path.join(s.dataDir, 'engine-api-key'), 'utf8').trim(), { concurrency: 2 });
    const ids = await makeHierarchy(s.admin, 'lab');
    await s.admin.upload(`/acquisitions/${ids.acquisition}/files`, [{ name: 'notes.txt', content: 'one\ntwo\nthree\n' }]);
    cli = new Cli();
    await cli.login(s.admin.key!);
  });
  afterAll(async () => {
    await engine?.stop();
    await s?.stop();
  });

  it('gear create scaffolds a valid gear and will not overwrite one; gear local runs it as /flywheel/v0', async () => {
    gearDir = await gearWith(cli, 'CLI Test Gear');
    const manifest = JSON.parse(fs.readFileSync(path.join(gearDir, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({
      name: 'cli-test-gear',
      label: 'CLI Test Gear',
      author: 'CLI tests',
      version: '0.1.0',
      custom: { 'gear-builder': { category: 'utility' } },
    });
    expect(fs.statSync(path.join(gearDir, 'run')).mode & 0o111).toBeTruthy();
    expect(await cli.fails(['gear', 'create', '--label', 'Again'], { cwd: gearDir })).toBe(
      `error: ${path.join(fs.realpathSync(gearDir), 'manifest.json')} already exists (use --force to overwrite)`,
    );
    expect(await cli.fails(['gear', 'create'], { cwd: tempDir() })).toBe('error: --label is required when not running in a terminal');

    const local = path.join(tempDir(), 'notes.txt');
    fs.writeFileSync(local, 'a\nb\n');
    const jobDir = path.join(tempDir(), 'job');
    const out = await cli.ok(['gear', 'local', gearDir, `--input_file=${local}`, '--prefix', 'loc', '--dir', jobDir]);
    expect(out).toContain(bwrapWorks ? '(bubblewrap sandbox)' : '(plain process, no sandbox)');
    expect(out).toContain(`Outputs in ${jobDir}/output (1 files)`);
    expect(fs.readFileSync(path.join(jobDir, 'output', 'loc_notes.txt'), 'utf8')).toBe('file: notes.txt\nbytes: 4\nlines: 2\n');
    const config = JSON.parse(fs.readFileSync(path.join(jobDir, 'config.json'), 'utf8'));
    expect(config.config).toEqual({ prefix: 'loc', count_lines: true });
    expect(config.inputs.input_file).toMatchObject({
      base: 'file',
      location: { name: 'notes.txt', path: '/flywheel/v0/input/input_file/notes.txt' },
      object: { type: 'text', size: 4 },
    });

    // --no-sandbox is the user's explicit choice of a plain process, as whoever they are (root included).
    const plain = await cli.ok(['gear', 'local', gearDir, `--input_file=${local}`, '--no-sandbox', '--dir', path.join(tempDir(), 'plain')]);
    expect(plain).toContain('(plain process, no sandbox)');
    expect(plain).toContain('(1 files)');

    expect(await cli.fails(['gear', 'local', gearDir, `--input_file=${local}`, '--bogus=1'])).toBe(
      'error: unknown option --bogus for gear cli-test-gear; it takes --input_file (input), --prefix, --count_lines',
    );
    expect(await cli.fails(['gear', 'local', gearDir, `--input_file=${local}`, '--count_lines=maybe'])).toBe(
      "error: --count_lines: expected true or false, got 'maybe'",
    );
    expect(await cli.fails(['gear', 'local', gearDir])).toBe('error: gear cli-test-gear needs --input_file=<file>');

    const failing = await gearWith(cli, 'Local Failer', 'echo about to fail\nexit 3');
    const r = await cli.run(['gear', 'local', failing, `--input_file=${local}`]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('about to fail');
    expect(r.stderr).toMatch(/^error: gear local-failer exited with code 3 after [\d.]+s; job folder .+\n$/);
  });

  it('gear upload checks the manifest with the server validator first, then uploads; gear ls lists it', async () => {
    const broken = await gearWith(cli, 'Broken Gear');
    const m = JSON.parse(fs.readFileSync(path.join(broken, 'manifest.json'), 'utf8'));
    m.config.prefix.type = 'text';
    m.inputs.input_file.base = 'blob';
    fs.writeFileSync(path.join(broken, 'manifest.json'), JSON.stringify(m));
    const invalid = await cli.fails(['gear', 'upload', broken]);
    expect(invalid).toMatch(/^error: invalid manifest .*manifest\.json: manifest\./);
    expect(invalid).toContain('manifest.config.prefix.type: must be one of "string", "integer", "number", "boolean", "array" (enum)');
    expect(invalid).toContain('manifest.inputs.input_file.base: must be one of "file", "context", "api-key" (enum)');
    fs.writeFileSync(path.join(broken, 'manifest.json'), '{"name": "x",');
    expect(await cli.fails(['gear', 'upload', broken])).toMatch(/^error: invalid manifest .*manifest\.json: not valid JSON/);
    expect(await cli.fails(['gear', 'upload', tempDir()])).toMatch(/^error: no manifest.json in /);

    const out = await cli.ok(['gear', 'upload', gearDir]);
    expect(out).toMatch(/^Uploaded gear cli-test-gear 0\.1\.0 \(utility, 2 files, .*\), id [0-9a-f]{24}\n/);
    expect(await cli.fails(['gear', 'upload', gearDir])).toBe(
      'error: gear cli-test-gear version 0.1.0 is already on the server: bump "version" in manifest.json',
    );
    const gears = await cli.json(['gear', 'ls']);
    expect(gears.map((g: any) => `${g.gear.name} ${g.gear.version}`)).toContain('cli-test-gear 0.1.0');
    expect(await cli.ok(['gear', 'ls'])).toMatch(/cli-test-gear\s+0\.1\.0\s+utility/);
  });

  it('job run on Sprocket paths, --wait, then ls/status/logs/retry; bad flags and paths in one line', async () => {
    const run = await cli.ok(['job', 'run', 'cli-test-gear', `--input_file=${input}`, '--prefix=srv', '--wait', '--interval', '0.2']);
    const id = /^Queued job ([0-9a-f]{24})\n/.exec(run)?.[1];
    expect(id, run).toBeDefined();
    expect(run).toContain(`${id} complete`);
    const acq = (await s.admin.post('/lookup', { path: ['lab', 'Project', 'sub-01', 'ses-01', 'T1w'] })).body;
    expect(acq.files.map((f: any) => f.name)).toContain('srv_notes.txt');

    const jobs = await cli.json(['job', 'ls']);
    expect(jobs[0]).toMatchObject({ _id: id, state: 'complete', gear_info: { name: 'cli-test-gear' } });
    expect((await cli.json(['job', 'status', id!])).tags).toEqual(expect.arrayContaining(['cli', 'cli-test-gear']));
    const status = await cli.ok(['job', 'status', id!]);
    expect(status).toContain(`Job ${id}: complete`);
    expect(status).toContain('config       prefix = "srv"');
    expect(status).toContain('outputs      srv_notes.txt');
    const logs = await cli.ok(['job', 'logs', '-f', id!, '--interval', '0.2']);
    expect(logs).toContain('wrote output/srv_notes.txt\n');
    expect(logs).toMatch(/^\[sprocket\] .*claimed the job/m);

    expect(await cli.fails(['job', 'retry', id!])).toMatch(/^error: job [0-9a-f]{24} is complete; only failed jobs can be retried/);
    const retried = await cli.json(['job', 'retry', id!, '--any-state']);
    expect(retried.retry_of).toBe(id);
    expect(await cli.ok(['job', 'wait', retried.job, '--interval', '0.2'])).toBe(`${retried.job} complete\n`);

    expect(await cli.fails(['job', 'run', 'cli-test-gear', '--input_file=lab/Project/nope/files/x.txt'])).toMatch(
      /^error: not found: lab\/Project\/nope\/files\/x\.txt/,
    );
    expect(await cli.fails(['job', 'run', 'no-such-gear'])).toBe("error: no gear 'no-such-gear' is installed (see 'sprocket gear ls')");
    expect(await cli.fails(['job', 'run', 'cli-test-gear', '--prefix=x'])).toBe('error: gear cli-test-gear needs --input_file=<file path>');
    expect(await cli.fails(['job', 'status', 'nope'])).toBe("error: not a job id: 'nope' (ids are 24 hex digits)");

    // An analysis gear: the job's outputs go to a new analysis on the input's container.
    const analysisGear = tempDir('sprocket-cli-gear-');
    await cli.ok(['gear', 'create', '--label', 'Summary Analysis', '--author', 'CLI tests', '--category', 'analysis'], {
      cwd: analysisGear,
    });
    await cli.ok(['gear', 'upload', analysisGear]);
    const queued = await cli.json(['job', 'run', 'summary-analysis', `--input_file=${input}`, '--analysis-label', 'cli analysis']);
    expect(queued).toEqual({ job: expect.stringMatching(/^[0-9a-f]{24}$/), analysis: expect.stringMatching(/^[0-9a-f]{24}$/) });
    await cli.ok(['job', 'wait', queued.job, '--interval', '0.2']);
    const analysis = await cli.json(['ls', 'lab/Project/sub-01/ses-01/T1w/analyses/cli analysis']);
    expect(analysis.children.map((f: any) => f.name)).toEqual(['summary_notes.txt']);
  });

  it('a failing job and a cancelled one make wait exit non-zero with one line', async () => {
    const failer = await gearWith(cli, 'Server Failer', 'echo boom >&2\nexit 3');
    const sleeper = await gearWith(cli, 'Sleeper', 'echo sleeping\nsleep 30');
    await cli.ok(['gear', 'upload', failer]);
    await cli.ok(['gear', 'upload', sleeper]);

    const failed = await cli.run(['job', 'run', 'server-failer', `--input_file=${input}`, '--wait', '--interval', '0.2']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(
      /^error: 1 of 1 jobs did not complete \([0-9a-f]{24} failed: .*3.*\); see 'sprocket job logs [0-9a-f]{24}'\n$/,
    );

    const { job } = await cli.json(['job', 'run', 'sleeper', `--input_file=${input}`]);
    expect(await eventually(async () => (await s.admin.get(`/jobs/${job}`)).body.state === 'running', 30_000, 100)).toBe(true);
    expect(await cli.ok(['job', 'cancel', job])).toBe(`Cancelled job ${job}\n`);
    expect(await cli.fails(['job', 'wait', job, '--interval', '0.2'])).toMatch(
      new RegExp(`^error: 1 of 1 jobs did not complete \\(${job} cancelled\\)`),
    );
    expect((await cli.json(['job', 'ls', '--state', 'cancelled'])).map((j: any) => j._id)).toEqual([job]);
  });
});
