import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { geBrainSeries } from '../../../test-fixtures/fetch.js';
import { REPO_ROOT } from '../../../test-fixtures/gear-run.js';
import { type SlurmCluster, slurmUnavailable, startSlurm } from '../../../test-fixtures/slurm.js';
import { zipFiles } from '../../../test-fixtures/zip.js';
import { Cli } from '../../cli/test/helpers.js';
import { makeHierarchy, startTestServer, type TestServer } from '../../server/test/helpers.js';
import { ok } from '../../server/test/people.js';
import { BwrapExecutor } from '../src/executors/bwrap.js';
import { readSubmitted } from '../src/slurm/state-file.js';
import { addJob, type EngineProcess, engineKey, jobLog, startEngine, waitForJob } from './engines.js';
import { eventually, packGear, processesWith, tempDir } from './helpers.js';

/**
 * The slurm engine mode against a real single-node Slurm (test-fixtures/slurm.ts, a private
 * configuration) and the real server: the shipped dcm2niix gear on a real series, cancel (queued
 * and running), walltime, memory, the cluster state on the job, and an engine killed and restarted
 * mid-job. `npm run test:slurm`; part of `npm test` where root and Slurm are available.
 */
const unavailable = slurmUnavailable();
if (unavailable) console.log(`slurm.test.ts skipped: ${unavailable}`);
const inner = (await new BwrapExecutor().available()) ? 'bwrap' : 'process';

/** What the controller says about a Slurm job (it keeps ended jobs for MinJobAge). */
function scontrol(cluster: SlurmCluster, id: string): Record<string, string> {
  const r = spawnSync('scontrol', ['show', 'job', '-o', id], { env: { ...process.env, ...cluster.env }, encoding: 'utf8' });
  return Object.fromEntries([...r.stdout.matchAll(/(\w+)=(\S*)/g)].map((m) => [m[1], m[2]]));
}

describe.skipIf(unavailable)('slurm engine mode', () => {
  let cluster: SlurmCluster;
  let server: TestServer;
  let engine: EngineProcess;
  let key: string;
  let ids: Awaited<ReturnType<typeof makeHierarchy>>;
  const engineDir = tempDir('sprocket-slurm-engine-');
  const gears: Record<string, string> = {};
  const slurmEngine = () =>
    startEngine(key, {
      executor: 'slurm',
      env: {
        ...cluster.env,
        SPROCKET_ENGINE_DIR: engineDir,
        SPROCKET_SLURM_EXECUTOR: inner,
        SPROCKET_SLURM_POLL: '0.3',
        SPROCKET_SLURM_PARTITION: cluster.partition,
        ...(inner === 'process' ? { SPROCKET_PROCESS_EXECUTOR_AS_ROOT: 'true' } : {}),
      },
    });

  beforeAll(async () => {
    cluster = await startSlurm();
    server = await startTestServer({ env: { SPROCKET_JOB_HEARTBEAT_TIMEOUT: '5' } });
    ids = await makeHierarchy(server.admin);
    const upload = async (name: string, tarball: Buffer) => {
      const r = await server.admin.upload('/gears', [{ name: `${name}.tar.gz`, content: new Blob([tarball]) }]);
      if (r.status !== 200) throw new Error(`gear upload failed: ${r.status} ${JSON.stringify(r.body)}`);
      gears[name] = r.body._id;
    };
    await upload('dcm2niix', packGear('dcm2niix', path.join(REPO_ROOT, 'gears')));
    for (const g of ['slow', 'hog']) await upload(g, packGear(g));
    key = await engineKey(server.admin, 'slurm engine');
    engine = slurmEngine();
  }, 120_000);
  afterAll(async () => {
    await engine?.stop();
    await server?.stop();
    await cluster?.stop();
  }, 60_000);

  const clusterOf = async (id: string) => (await server.admin.get(`/jobs/${id}`)).body.cluster;
  const slowJob = (marker: string, resources: Record<string, unknown> = {}) =>
    addJob(server.admin, {
      gear_id: gears.slow,
      config: { marker, seconds: 300 },
      destination: { type: 'acquisition', id: ids.acquisition },
      resources,
    });

  it('runs the shipped dcm2niix gear on a real series through sbatch: outputs saved, log streamed, cluster state and Slurm job id on the job', async () => {
    const zip = await zipFiles(geBrainSeries(), path.join(tempDir(), 'brain.dicom.zip'));
    const up = await server.admin.upload(`/acquisitions/${ids.acquisition}/files`, [
      { name: 'brain.dicom.zip', content: new Blob([fs.readFileSync(zip)]) },
    ]);
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    const id = await addJob(server.admin, {
      gear_id: gears.dcm2niix,
      inputs: { dcm2niix_input: { type: 'acquisition', id: ids.acquisition, name: 'brain.dicom.zip' } },
      resources: { cpu: 1, memory: '1G', walltime: 600 },
    });
    const job = await waitForJob(server.admin, id, undefined, 90_000);
    expect(job.state, `${engine.output()}\n${JSON.stringify(await jobLog(server.admin, id))}`).toBe('complete');
    expect(job.saved_files.some((f: string) => f.endsWith('.nii.gz'))).toBe(true);
    // The step finished the job on the API; the engine records the cluster's last word once Slurm has it.
    await eventually(async () => (await clusterOf(id))?.state === 'COMPLETED', 10_000);
    expect(await clusterOf(id)).toMatchObject({ scheduler: 'slurm', job_id: expect.stringMatching(/^\d+$/), state: 'COMPLETED' });
    job.cluster = await clusterOf(id);

    const slurm = scontrol(cluster, job.cluster.job_id);
    expect(slurm.JobName).toBe(`sprocket-${id}`);
    expect(slurm.JobState).toBe('COMPLETED');
    // The resource request became sbatch options (memory: the gear's request plus the step's own).
    expect(slurm.MinMemoryNode).toBe(`${1024 + 256}M`);
    expect(slurm.TimeLimit).toBe('00:11:00');

    const logs = await jobLog(server.admin, id);
    const system = logs.filter((l) => l.fd === -1).map((l) => l.msg);
    expect(system).toContain(`Submitted to Slurm as job ${job.cluster.job_id}`);
    expect(system.some((m) => m.startsWith(`Slurm job ${job.cluster.job_id}: running on cluster node `))).toBe(true);
    expect(system.some((m) => m.includes(`via Slurm job ${job.cluster.job_id}`) && m.includes('claimed the job'))).toBe(true);
    // The gear's own output, streamed by the node-side step through the API.
    expect(logs.some((l) => l.fd !== -1 && /dcm2niix|Convert/i.test(l.msg))).toBe(true);
    expect(job.profile.executor.name).toBe(inner);
    // The engine forgot the job once it ended.
    expect(await eventually(() => !readSubmitted(engineDir).some((j) => j.job_id === id), 5_000)).toBe(true);
  }, 120_000);

  it('shows "queued on cluster, reason: Resources" while the cluster is full; a cancel scancels queued and running jobs', async () => {
    // A job asking for every CPU of the one node: the next such job must wait for it.
    const cpus = Number(
      spawnSync('sinfo', ['-h', '-o', '%c'], { env: { ...process.env, ...cluster.env }, encoding: 'utf8' }).stdout.trim(),
    );
    const running = await slowJob('sprocket-slurm-a', { cpu: cpus });
    await eventually(async () => (await clusterOf(running))?.state === 'RUNNING', 30_000);
    expect(await clusterOf(running), engine.output()).toMatchObject({
      state: 'RUNNING',
      summary: expect.stringMatching(/^running on cluster node \S+$/),
    });
    const queued = await slowJob('sprocket-slurm-b', { cpu: cpus });
    await eventually(async () => (await clusterOf(queued))?.reason === 'Resources', 30_000);
    const waiting = await clusterOf(queued);
    expect(waiting, engine.output()).toMatchObject({
      state: 'PENDING',
      reason: 'Resources',
      summary: 'queued on cluster, reason: Resources',
    });
    expect((await server.admin.get(`/jobs/${queued}`)).body.state).toBe('running');
    // The CLI's job status says it too, with the Slurm job id.
    const cli = new Cli();
    await cli.login(server.admin.key!);
    expect(await cli.ok(['job', 'status', queued])).toContain(
      `\n  cluster      queued on cluster, reason: Resources (slurm job ${waiting.job_id})\n`,
    );
    // Longer than the server's heartbeat timeout (5 s here): the engine's heartbeats keep the
    // queued job from the orphan sweep.
    await new Promise((r) => setTimeout(r, 8_000));
    expect((await server.admin.get(`/jobs/${queued}`)).body).toMatchObject({ state: 'running', attempt: 1 });
    await eventually(() => processesWith('sprocket-slurm-a-child').length > 0, 30_000);
    // The batch script names the job and the step; the engine key travels in the job's
    // environment only, never in a file of the engine's folder.
    const folder = path.join(engineDir, 'slurm', running);
    expect(fs.readFileSync(path.join(folder, 'job.sh'), 'utf8')).toMatch(/slurm-step\.ts' '--job' '[0-9a-f]+'\n$/);
    const secret = key.split(':').pop()!;
    for (const f of fs.readdirSync(folder)) expect(fs.readFileSync(path.join(folder, f), 'utf8')).not.toContain(secret);
    expect(fs.statSync(folder).mode & 0o077).toBe(0);

    for (const id of [queued, running]) expect((await server.admin.put(`/jobs/${id}`, { state: 'cancelled' })).status).toBe(200);
    // The queued one is scancelled; the running one's step sees the cancel too and may stop the gear
    // and end first (COMPLETED), else the scancel ends it.
    for (const [id, slurmId, states] of [
      [queued, waiting.job_id, ['CANCELLED']],
      [running, (await clusterOf(running)).job_id, ['CANCELLED', 'COMPLETED']],
    ] as const) {
      const ended = await eventually(() => states.includes(scontrol(cluster, slurmId).JobState as never), 20_000);
      expect(ended, `${id}: ${JSON.stringify(scontrol(cluster, slurmId))}`).toBe(true);
      expect((await server.admin.get(`/jobs/${id}`)).body.state).toBe('cancelled');
    }
    expect(await eventually(() => !readSubmitted(engineDir).some((j) => j.job_id === queued), 5_000)).toBe(true);
    // The gear's processes on the node are gone too (Slurm kills the job's process tree).
    expect(await eventually(() => processesWith('sprocket-slurm-a-').length === 0, 20_000)).toBe(true);
  }, 120_000);

  it('holds many more jobs on the cluster than it has cores, with no process per job', async () => {
    const cpus = Number(
      spawnSync('sinfo', ['-h', '-o', '%c'], { env: { ...process.env, ...cluster.env }, encoding: 'utf8' }).stdout.trim(),
    );
    const jobs: string[] = [];
    try {
      for (let i = 0; i < 6; i++) jobs.push(await slowJob(`sprocket-slurm-many-${i}`, { cpu: cpus }));
      // All six submitted (one runs, five wait for the node) although the engine has no slot settings.
      await eventually(async () => (await Promise.all(jobs.map(clusterOf))).every((c) => c?.job_id), 30_000);
      const states = (await Promise.all(jobs.map(clusterOf))).map((c) => c.state);
      expect(states.filter((st) => st === 'PENDING').length, JSON.stringify(states)).toBeGreaterThanOrEqual(4);
      // One poll loop follows them all: the engine keeps no process per job (a squeue, and an
      // scontrol for a job that just ended, may be in flight).
      const children = () =>
        fs
          .readdirSync('/proc')
          .filter((p) => /^\d+$/.test(p))
          .filter((p) => {
            try {
              return fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(engine.proc.pid);
            } catch {
              return false;
            }
          }).length;
      for (let i = 0; i < 10; i++) {
        expect(children()).toBeLessThanOrEqual(2);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      // Cancelled even when an expectation failed: the next tests need the node.
      for (const id of jobs) ok(await server.admin.put(`/jobs/${id}`, { state: 'cancelled' }));
    }
    expect(await eventually(() => readSubmitted(engineDir).length === 0, 30_000), JSON.stringify(readSubmitted(engineDir))).toBe(true);
  }, 120_000);

  it('fails a job past its walltime, and one past its memory request, saying which', async () => {
    const late = await slowJob('sprocket-slurm-late', { walltime: 3 });
    const hog = await addJob(server.admin, {
      gear_id: gears.hog,
      config: { mode: 'memory' },
      destination: { type: 'acquisition', id: ids.acquisition },
      resources: { memory: '64M' },
    });
    const lateJob = await waitForJob(server.admin, late, undefined, 60_000);
    expect(lateJob.state, engine.output()).toBe('failed');
    expect(lateJob.failure_reason).toMatch(/exceeded its walltime of 3 s/);
    const hogJob = await waitForJob(server.admin, hog, undefined, 60_000);
    expect(hogJob.state, engine.output()).toBe('failed');
    expect(hogJob.failure_reason).toMatch(/memory/);
    expect(hogJob.cluster.state).toBe('COMPLETED');
  }, 120_000);

  it('a compute job killed on the node mid-run is noticed and submitted again, and the job completes once', async () => {
    const marker = 'sprocket-slurm-killed';
    const id = await addJob(server.admin, {
      gear_id: gears.slow,
      config: { marker, seconds: 6 },
      destination: { type: 'acquisition', id: ids.acquisition },
    });
    await eventually(async () => (await clusterOf(id))?.state === 'RUNNING' && processesWith(`${marker}-child`).length > 0, 30_000);
    const first = (await clusterOf(id)).job_id;
    // The batch script execs the node-side step: kill -9 of it is the compute job dying under the gear.
    const step = processesWith(`slurm-step`).filter((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(id));
    expect(step.length, 'the node-side step of the job').toBeGreaterThan(0);
    for (const pid of step) process.kill(pid, 'SIGKILL');
    const job = await waitForJob(server.admin, id, undefined, 90_000);
    expect(job.state, `${engine.output()}\n${JSON.stringify(await jobLog(server.admin, id))}`).toBe('complete');
    // The same job, not a retry: one attempt, on a second Slurm job.
    expect(job.attempt).toBe(1);
    expect(job.cluster.job_id).not.toBe(first);
    expect(scontrol(cluster, first)).toMatchObject({ JobState: 'FAILED', ExitCode: '0:9' });
    const system = (await jobLog(server.admin, id)).filter((l) => l.fd === -1).map((l) => l.msg);
    expect(system).toContain(
      `the job was killed on the cluster by signal 9 (Slurm job ${first}: FAILED); submitted again as Slurm job ${job.cluster.job_id}`,
    );
    const acq = ok(await server.admin.get(`/acquisitions/${ids.acquisition}`));
    expect(acq.files.filter((f: { name: string }) => f.name === 'done.txt').length).toBe(1);
    expect(job.saved_files).toEqual(['done.txt']);
  }, 150_000);

  it('an engine killed mid-job and started again on its folder keeps tracking the Slurm job, and fails it when the cluster kills it', async () => {
    const id = await slowJob('sprocket-slurm-restart');
    await eventually(async () => (await clusterOf(id))?.state === 'RUNNING', 30_000);
    const slurmId = (await clusterOf(id)).job_id;
    await engine.kill9();
    expect(readSubmitted(engineDir)).toContainEqual(expect.objectContaining({ job_id: id, slurm_id: slurmId }));
    // The Slurm job goes on without the engine (its step heartbeats the job itself).
    expect(scontrol(cluster, slurmId).JobState).toBe('RUNNING');
    engine = slurmEngine();
    await eventually(
      async () => (await jobLog(server.admin, id)).some((l) => l.msg.includes(`resumed tracking Slurm job ${slurmId}`)),
      20_000,
    );
    // Someone cancels it on the cluster: only an engine that still tracks it can notice and say so.
    spawnSync('scancel', [slurmId], { env: { ...process.env, ...cluster.env } });
    const job = await waitForJob(server.admin, id, undefined, 40_000);
    expect(job.state, engine.output()).toBe('failed');
    // With the engine's folder shared with the node (as here), Slurm's own last line is quoted too.
    expect(job.failure_reason).toMatch(
      new RegExp(
        `^The job was cancelled on the cluster \\(scancel, not by Sprocket\\) \\(Slurm job ${slurmId}: CANCELLED\\); its output ended with: .*JOB ${slurmId} ON \\S+ CANCELLED`,
      ),
    );
    expect(job.cluster).toMatchObject({ job_id: slurmId, state: 'CANCELLED' });
  }, 120_000);
});
