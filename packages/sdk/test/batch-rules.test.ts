import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineProcess, engineKey, startEngine } from '../../engine/test/engines.js';
import { Acquisition, BatchProposal, Client, type Gear, type Project } from '../src/index.js';
import { manifest, packGear } from './gears.js';
import { adminKey, startTestServer, type TestServer, uniq } from './helpers.js';

let s: TestServer;
let engine: EngineProcess;
let fw: Client;
let gear: Gear;

// Exits with the config's exit code (from the job's /flywheel/v0, relative under the process executor).
const RUN = `#!/bin/bash
exit "$(node -e "console.log(require('./config.json').config.exit_code)")"
`;

/** A project whose acquisitions hold one DICOM (matched), two (ambiguous) or none (not matched). */
async function project(label: string): Promise<Project> {
  const group = await fw.addGroup({ id: uniq('batch') });
  const p = await group.addProject({ label });
  const ses = await p.addSession({ label: 'ses-01' });
  for (const [name, files] of [
    ['one-a', ['a.dcm']],
    ['one-b', ['b.dcm']],
    ['two', ['c.dcm', 'd.dcm']],
    ['none', ['notes.txt']],
  ] as const) {
    const acq = await ses.addAcquisition({ label: name });
    await acq.uploadFiles(files.map((f) => ({ name: f, data: f })));
  }
  return p;
}

beforeAll(async () => {
  s = await startTestServer();
  fw = new Client(adminKey(s));
  engine = startEngine(await engineKey(s.admin, 'sdk batch engine'), { concurrency: 2, executor: 'process' });
  const name = uniq('batchgear-');
  gear = await fw.addGear({
    name: 'g.tar.gz',
    data: packGear(manifest(name, 'converter', { config: { exit_code: { type: 'integer', default: 0 } } }), { run: RUN }),
  });
});
afterAll(async () => {
  await engine?.stop();
  await s?.stop();
});

describe('batch runs', () => {
  it('proposes, runs, waits for and retries a batch', async () => {
    const p = await project('Batch');
    const proposal = await gear.proposeBatch([p]);
    expect(proposal).toBeInstanceOf(BatchProposal);
    expect(proposal.matched.every((c) => c instanceof Acquisition)).toBe(true);
    expect(proposal.matched.map((c) => c.label).sort()).toEqual(['one-a', 'one-b']);
    expect(proposal.ambiguous.map((c) => c.label)).toEqual(['two']);
    expect(proposal.not_matched.map((c) => c.label)).toEqual(['none']);

    const jobs = await proposal.run();
    expect(jobs).toHaveLength(2);
    const done = await fw.waitForJobs(jobs, { pollMs: 50 });
    expect(
      done.map((j) => j.state),
      engine.output(),
    ).toEqual(['complete', 'complete']);
    const batch = await fw.getBatch(proposal.id);
    expect(batch).toMatchObject({ id: proposal.id, gear_id: gear.id, matched: 2, job_states: { complete: 2 } });
    expect(batch.jobs.slice().sort()).toEqual(jobs.map((j) => j.id).sort());
    expect((await batch.getJobs()).map((j) => j.state)).toEqual(['complete', 'complete']);
    expect((await fw.getAllBatches()).map((b) => b.id)).toContain(proposal.id);

    // A failing batch: its failed jobs are queued again in one call.
    const failing = await gear.proposeBatch([p], { config: { exit_code: 3 } });
    const failed = await fw.waitForJobs(await failing.run(), { pollMs: 50 });
    expect(failed.map((j) => j.state)).toEqual(['failed', 'failed']);
    expect(failed.map((j) => j.exit_code)).toEqual([3, 3]);
    const b2 = await fw.getBatch(failing.id);
    expect(await b2.retryFailed({ exitCodes: [1] })).toEqual([]);
    const retried = await b2.retryFailed({ exitCodes: [3] });
    expect(retried).toHaveLength(2);
    const again = await fw.waitForJobs(retried, { pollMs: 50 });
    expect(again.map((j) => j.attempt)).toEqual([2, 2]);
  });
});

describe('gear rules', () => {
  it('adds a rule that launches on upload, applies it to existing files, disables and deletes it', async () => {
    const p = await project('Rules');
    const rid = await fw.addProjectRule(p.id, {
      gear_id: gear.id,
      name: 'convert dicoms',
      any: [],
      all: [{ type: 'file.type', value: 'dicom' }],
      not: [],
    });
    expect(await p.getRules()).toEqual([expect.objectContaining({ id: rid, name: 'convert dicoms', gear_id: gear.id, disabled: false })]);

    // Existing files: a dry run lists what applying would launch (one per DICOM), then it launches.
    const dry = await fw.applyProjectRule(p.id, rid, { dryRun: true });
    expect(dry).toMatchObject({ dry_run: true, would_launch: 4 });
    expect((await fw.applyProjectRule(p.id, rid)).launched).toBe(4);
    expect((await fw.applyProjectRule(p.id, rid, { dryRun: true })).would_launch).toBe(0);

    // A new upload fires the rule.
    const acq = await p.acquisitions.findOne('label=none');
    await acq.uploadFile({ name: 'new.dcm', data: 'x' });
    const auto = (await acq.getJobs()).filter((j) => j.tags.includes('auto'));
    expect(auto).toHaveLength(1);
    expect(auto[0]!.inputs.dicom).toMatchObject({ type: 'acquisition', id: acq.id, name: 'new.dcm' });

    // Disabled, it stays quiet (the tutorial disables all rules before its batch runs).
    await fw.modifyProjectRule(p.id, rid, { disabled: true });
    expect((await fw.getProjectRule(p.id, rid)).disabled).toBe(true);
    await acq.uploadFile({ name: 'newer.dcm', data: 'y' });
    expect((await acq.getJobs()).filter((j) => j.tags.includes('auto'))).toHaveLength(1);

    await fw.deleteProjectRule(p.id, rid);
    expect(await fw.getProjectRules(p.id)).toEqual([]);
    // Let the launched jobs finish before the engine stops.
    await fw.waitForJobs(
      (await fw.jobs.find(`gear_id=${gear.id}`)).map((j) => j.id),
      { pollMs: 50 },
    );
  });
});
