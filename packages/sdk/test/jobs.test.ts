import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineProcess, engineKey, startEngine } from '../../engine/test/engines.js';
import { type Acquisition, Analysis, type Client, type FileEntry, Gear, Job, type RequestRecord, type WaitProgress } from '../src/index.js';
import { manifest, packGear } from './gears.js';
import { adminKey, recordingClient, startTestServer, type TestServer, uniq } from './helpers.js';

let s: TestServer;
let engine: EngineProcess;
let fw: Client;
let requests: RequestRecord[];
let acq: Acquisition;
let dicom: FileEntry;

// Prints its config and input, writes one output; exits with the config's exit code.
// Run from the job's /flywheel/v0 (the process executor does not remap it, so paths are relative).
const RUN = `#!/bin/bash
set -e
cfg() { node -e "console.log(require('./config.json').config['$1'])"; }
echo "config: $(tr -d '\\n ' < config.json)"
echo "to stderr" >&2
ls input/dicom
echo "threshold=$(cfg threshold)" > output/result.txt
sleep "$(cfg sleep)"
exit "$(cfg exit_code)"
`;
const CONFIG = {
  threshold: { type: 'number', default: 0.5 },
  mode: { type: 'string', enum: ['fast', 'slow'], default: 'fast' },
  sleep: { type: 'integer', default: 0 },
  exit_code: { type: 'integer', default: 0 },
};

async function upload(name: string, category: 'converter' | 'analysis'): Promise<Gear> {
  return fw.addGear({ name: `${name}.tar.gz`, data: packGear(manifest(name, category, { config: CONFIG }), { run: RUN }) });
}

beforeAll(async () => {
  s = await startTestServer();
  ({ fw, requests } = recordingClient(adminKey(s)));
  engine = startEngine(await engineKey(s.admin, 'sdk jobs engine'), { concurrency: 2, executor: 'process' });
  const group = await fw.addGroup({ id: uniq('jobs') });
  const project = await group.addProject({ label: 'Jobs' });
  const session = await project.addSession({ label: 'ses-01' });
  acq = await session.addAcquisition({ label: 'T1w' });
  dicom = await acq.uploadFile({ name: 'scan.dcm', data: 'not really DICOM' });
});
afterAll(async () => {
  await engine?.stop();
  await s?.stop();
});

describe('gears and jobs', () => {
  it('runs a utility gear: config defaults filled client-side, file inputs as refs, the job id back', async () => {
    const name = uniq('util-');
    await upload(name, 'converter');
    const gear = await fw.lookup<Gear>(`gears/${name}`);
    expect(gear).toBeInstanceOf(Gear);
    expect(gear).toMatchObject({ category: 'converter', name, version: '1.0.0' });
    expect((await fw.lookup<Gear>(`gears/${name}/1.0.0`)).id).toBe(gear.id);
    expect((await fw.gears.find(`gear.name=${name}`)).map((g) => g.id)).toEqual([gear.id]);

    requests.length = 0;
    const jobId = await gear.run({ inputs: { dicom }, destination: acq, config: { mode: 'slow' }, tags: ['sdk'] });
    expect(requests.map((r) => `${r.method} ${r.template}`)).toEqual(['POST /jobs/add']);
    expect(requests[0]!.body).toEqual({
      gear_id: gear.id,
      inputs: { dicom: { type: 'acquisition', id: acq.id, name: 'scan.dcm' } },
      destination: { type: 'acquisition', id: acq.id },
      config: { threshold: 0.5, mode: 'slow', sleep: 0, exit_code: 0 },
      tags: ['sdk'],
    });

    const seen: WaitProgress[] = [];
    const [done] = await fw.waitForJobs([jobId], { pollMs: 50, onProgress: (p) => seen.push(p) });
    expect(done).toBeInstanceOf(Job);
    expect(done!.state, `${done!.failure_reason} ${await done!.getLogText()}`).toBe('complete');
    expect(seen.at(-1)).toMatchObject({ total: 1, done: 1, counts: { complete: 1 } });
    expect(done!).toMatchObject({
      id: jobId,
      gear_id: gear.id,
      destination: { type: 'acquisition', id: acq.id },
      tags: expect.arrayContaining(['sdk']),
    });
    expect(done!.transitions.complete).toEqual(expect.any(String));

    const job = await fw.getJob(jobId);
    const text = await job.getLogText();
    expect(text).toContain('"threshold":0.5');
    expect(text).toContain('to stderr');
    expect((await job.getLogs()).logs.some((l) => l.fd === 2)).toBe(true);
    expect((await acq.reload()).getFile('result.txt')?.origin).toMatchObject({ type: 'job', id: jobId });
    expect((await acq.readFile('result.txt')).toString()).toBe('threshold=0.5\n');

    expect((await acq.getJobs()).map((j) => j.id)).toContain(jobId);
    const mine = await fw.getCurrentUserJobs({ gear: name });
    expect(mine.jobs.map((j) => j.id)).toEqual([jobId]);
    expect(mine.stats.complete).toBe(1);
    expect((await fw.jobs.find(`gear_id=${gear.id}`)).map((j) => j.id)).toEqual([jobId]);
  });

  it('runs an analysis gear into a new analysis and returns its id', async () => {
    const name = uniq('ana-');
    const gear = await upload(name, 'analysis');
    expect(gear.isAnalysis).toBe(true);
    const session = await fw.getSession(acq.parents.session!);
    const analysisId = await gear.run({ inputs: { dicom }, destination: session });
    const analysis = await fw.getAnalysis(analysisId);
    expect(analysis).toBeInstanceOf(Analysis);
    expect(analysis.label).toMatch(new RegExp(`^${name} \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d$`));
    expect(analysis.parent).toEqual({ type: 'session', id: session.id });
    const jobId = typeof analysis.job === 'string' ? analysis.job : String(analysis.job?.id ?? analysis.job?._id);
    const [job] = await fw.waitForJobs([jobId], { pollMs: 50 });
    expect(job!.state, engine.output()).toBe('complete');
    expect(job!.destination).toEqual({ type: 'analysis', id: analysisId });
    expect((await analysis.reload()).files.map((f) => f.name)).toContain('result.txt');
    expect((await session.analyses.find()).map((a) => a.id)).toContain(analysisId);

    // without a destination, the analysis goes on the first input's container
    const onAcq = await gear.run({ inputs: { dicom }, analysisLabel: 'named by me' });
    expect(await fw.getAnalysis(onAcq)).toMatchObject({ label: 'named by me', parent: { type: 'acquisition', id: acq.id } });
  });

  it('cancels, fails and retries jobs', async () => {
    const gear = await upload(uniq('ctl-'), 'converter');
    const slow = await fw.getJob(await gear.run({ inputs: { dicom }, config: { sleep: 60 } }));
    expect(['pending', 'running']).toContain(slow.state);
    await slow.cancel();
    expect(slow.state).toBe('cancelled');

    const failing = await gear.run({ inputs: { dicom }, config: { exit_code: 3 } });
    const [failed] = await fw.waitForJobs([failing], { pollMs: 50 });
    expect(failed!.state, engine.output()).toBe('failed');
    const retryId = await failed!.retry();
    const retried = await fw.getJob(retryId);
    expect(retried).toMatchObject({ previous_job_id: failing, attempt: 2 });
    await fw.cancelJob(retryId);

    // complete or cancelled jobs are retried only when asked to ignore their state
    await expect(slow.retry()).rejects.toMatchObject({ status: 409, code: 'JOB_STATE' });
    const again = await slow.retry({ ignoreState: true });
    expect((await fw.getJob(again)).previous_job_id).toBe(slow.id);
    await fw.cancelJob(again);
    const final = await fw.waitForJobs([slow, again, retryId], { pollMs: 50 });
    expect(final.map((j) => j.state)).toEqual(['cancelled', 'cancelled', 'cancelled']);
  });
});
