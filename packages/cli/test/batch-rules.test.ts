import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineProcess, startEngine } from '../../engine/test/engines.js';
import { makeHierarchy } from '../../server/test/helpers.js';
import { Cli, eventually, startTestServer, type TestServer, tempDir } from './helpers.js';

describe('batch run/status/ls/cancel/retry-failed and rule add/ls/disable/enable/apply', () => {
  let s: TestServer;
  let engine: EngineProcess;
  let cli: Cli;
  let ids: Awaited<ReturnType<typeof makeHierarchy>>;
  beforeAll(async () => {
    s = await startTestServer();
    engine = startEngine(fs.readFileSync(path.join(s.dataDir, 'engine-api-key'), 'utf8').trim(), { concurrency: 2 });
    ids = await makeHierarchy(s.admin, 'lab');
    const second = (await s.admin.post('/acquisitions', { session: ids.session, label: 'T2w' })).body._id;
    await s.admin.upload(`/acquisitions/${ids.acquisition}/files`, [{ name: 'a.txt', content: 'alpha\n' }]);
    await s.admin.upload(`/acquisitions/${second}/files`, [{ name: 'b.txt', content: 'beta\nbeta\n' }]);
    cli = new Cli();
    await cli.login(s.admin.key!);
    // The gear: counts bytes of a .txt; a variant that fails on files named b.txt.
    const dir = tempDir('sprocket-cli-gear-');
    await cli.ok(['gear', 'create', '--label', 'Counter', '--author', 'CLI tests'], { cwd: dir });
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    // Only the one-letter .txt files the test uploads are candidates, never the gears' outputs.
    m.inputs.input_file.type = { enum: ['text'] };
    m.inputs.input_file.name = { pattern: '^[a-z]\\.txt$' };
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
    await cli.ok(['gear', 'upload', dir]);
    m.name = 'picky-counter';
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
    fs.writeFileSync(
      path.join(dir, 'run'),
      '#!/usr/bin/env bash\nif ls input/input_file/b.txt 2>/dev/null; then echo "no b" >&2; exit 4; fi\necho ok > output/ok.txt\n',
      { mode: 0o755 },
    );
    await cli.ok(['gear', 'upload', dir]);
  });
  afterAll(async () => {
    await engine?.stop();
    await s?.stop();
  });

  it('batch run shows the proposal, --dry-run queues nothing; a real run is waited for and reported', async () => {
    const dry = await cli.ok(['batch', 'run', 'counter', 'lab/Project', '--dry-run', '--prefix=batch']);
    expect(dry).toMatch(/^Proposal \(dry run\) for counter 0\.1\.0 over lab\/Project:\n/);
    expect(dry).toMatch(/T1w\s+input_file: a\.txt/);
    expect(dry).toMatch(/T2w\s+input_file: b\.txt/);
    expect(dry).toContain('2 matched, 0 ambiguous, 0 not matched, 0 without permission');
    expect(dry).toContain('Dry run: nothing was queued and no batch was kept.');
    expect((await s.admin.get('/jobs')).body).toHaveLength(0);

    const out = await cli.ok(['batch', 'run', 'counter', 'lab/Project', '--prefix=batch', '--yes', '--wait', '--interval', '0.2']);
    const batchId = /Started batch ([0-9a-f]{24}): 2 jobs queued/.exec(out)?.[1];
    expect(batchId, out).toBeDefined();
    expect(out.match(/ complete$/gm)).toHaveLength(2);
    const status = await cli.ok(['batch', 'status', batchId!, '--jobs']);
    expect(status).toMatch(new RegExp(`^Batch ${batchId}: complete, 2 jobs \\(2 complete\\)`));
    expect(status).toMatch(/counter 0\.1\.0\s+complete/);
    expect((await cli.json(['batch', 'status', batchId!])).job_states).toEqual({ complete: 2 });
    expect((await cli.json(['batch', 'ls'])).map((b: any) => b._id)).toContain(batchId);
    expect(await cli.ok(['batch', 'retry-failed', batchId!])).toBe(`Batch ${batchId}: 0 failed jobs queued again\n`);
    expect(await cli.fails(['batch', 'run', 'counter', 'lab/Project', '--input_file=x'])).toBe(
      'error: a batch picks the input files itself: give only config options',
    );
  });

  it('a batch with a failing job exits non-zero; retry-failed queues it again; a cancelled batch cannot be cancelled twice', async () => {
    const r = await cli.run(['batch', 'run', 'picky-counter', 'lab/Project', '--yes', '--wait', '--interval', '0.2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: 1 of 2 jobs did not complete \([0-9a-f]{24} failed: .*4.*\)/);
    const batchId = /Started batch ([0-9a-f]{24})/.exec(r.stdout)![1]!;
    const retried = await cli.json(['batch', 'retry-failed', batchId, '--exit-code', '4']);
    expect(retried.jobs).toHaveLength(1);
    expect(await cli.fails(['job', 'wait', retried.jobs[0], '--interval', '0.2'])).toMatch(/did not complete/);
    expect(await cli.fails(['batch', 'status', 'nope'])).toBe("error: not a batch id: 'nope' (ids are 24 hex digits)");

    // A pending proposal (dry runs keep none), made through the API as the SDK's propose_batch does.
    const gearId = (await s.admin.get('/gears')).body.find((g: any) => g.gear.name === 'counter')._id;
    const proposal = (await s.admin.post('/batch', { gear_id: gearId, targets: [{ type: 'session', id: ids.session }] })).body._id;
    expect(await cli.ok(['batch', 'cancel', proposal])).toBe(`Cancelled batch ${proposal}: 0 pending jobs cancelled\n`);
    expect(await cli.fails(['batch', 'cancel', proposal])).toMatch(/^error: batch [0-9a-f]{24} is already cancelled \(409 BATCH_STATE\)$/);
  });

  it('rules: add with conditions and config, list, disable/enable by name, apply with --dry-run', async () => {
    const before = (await s.admin.get('/jobs')).body.length;
    const added = await cli.ok([
      'rule',
      'add',
      'lab/Project',
      '--gear',
      'counter',
      '--name',
      'count texts',
      '--any',
      'file.name=?.txt',
      '--not',
      'file.name~=^b\\.',
      '--config',
      'prefix=rule',
      '--disabled',
    ]);
    expect(added).toMatch(/^Added rule [0-9a-f]{24} \(count texts\) on lab\/Project: runs counter 0\.1\.0\n$/);
    const rules = await cli.json(['rule', 'ls', 'lab/Project']);
    expect(rules).toEqual([
      expect.objectContaining({
        name: 'count texts',
        disabled: true,
        config: { prefix: 'rule' },
        any: [{ type: 'file.name', value: '?.txt' }],
        not: [{ type: 'file.name', value: '^b\\.', regex: true }],
      }),
    ]);
    expect(await cli.ok(['rule', 'ls', 'lab/Project'])).toMatch(
      /count texts\s+counter 0\.1\.0\s+disabled\s+any\(file\.name=\?\.txt\) not\(file\.name~=\^b\\\.\)/,
    );

    expect(await cli.ok(['rule', 'apply', 'lab/Project', 'count texts', '--dry-run'])).toMatch(/^Rule count texts: would queue 1 jobs/);
    expect((await s.admin.get('/jobs')).body.length).toBe(before);
    expect(await cli.ok(['rule', 'enable', 'lab/Project', 'count texts'])).toMatch(/is now enabled\n$/);
    const applied = await cli.json(['rule', 'apply', 'lab/Project', 'count texts']);
    expect(applied.launched).toBe(1);
    expect(await cli.ok(['rule', 'disable', 'lab/Project', rules[0]._id])).toMatch(/is now disabled\n$/);

    // A new matching file fires an enabled rule by itself.
    await cli.ok(['rule', 'enable', 'lab/Project', 'count texts']);
    const c = path.join(tempDir(), 'c.txt');
    fs.writeFileSync(c, 'gamma\n');
    await cli.ok(['upload', 'lab/Project/sub-01/ses-01/T1w', c]);
    expect(
      await eventually(
        async () => (await s.admin.get('/jobs')).body.some((j: any) => j.tags.includes('auto') && j.inputs?.input_file?.name === 'c.txt'),
        20_000,
        100,
      ),
    ).toBe(true);

    expect(await cli.fails(['rule', 'add', 'lab/Project', '--gear', 'counter', '--any', 'file.colour=red'])).toMatch(
      /^error: unknown condition type 'file.colour'/,
    );
    expect(await cli.fails(['rule', 'disable', 'lab/Project', 'no such rule'])).toBe(
      "error: no rule 'no such rule' on project Project (see 'sprocket rule ls')",
    );
    expect(await cli.fails(['rule', 'ls', 'lab/Project/sub-01'])).toBe(
      'error: lab/Project/sub-01 is a subject: gear rules belong to projects',
    );
  });
});
