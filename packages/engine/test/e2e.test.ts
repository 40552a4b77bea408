import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHierarchy, startTestServer, type TestServer } from '../../server/test/helpers.js';
import { BwrapExecutor } from '../src/executors/bwrap.js';
import { addJob, type EngineProcess, engineKey, jobLog, startEngine, uploadGear, waitForJob } from './engines.js';
import { eventually, processesWith } from './helpers.js';

/**
 * The engine against the real server: gears uploaded as tar.gz, jobs queued through the API, run by
 * a real engine process, results checked through the API.
 */
const executor = (await new BwrapExecutor().available()) ? 'bwrap' : 'process';

describe('engine with the real server', () => {
  let server: TestServer;
  let engine: EngineProcess;
  let ids: Awaited<ReturnType<typeof makeHierarchy>>;
  const gears: Record<string, string> = {};

  beforeAll(async () => {
    server = await startTestServer();
    ids = await makeHierarchy(server.admin);
    for (const g of ['echo-config', 'write-metadata', 'exit-three', 'slow', 'api-key', 'hog']) gears[g] = await uploadGear(server.admin, g);
    // A small disk limit: the other gears here write a few bytes.
    engine = startEngine(await engineKey(server.admin), { concurrency: 2, executor, env: { SPROCKET_JOB_DISK_LIMIT: '20M' } });
  });
  afterAll(async () => {
    await engine?.stop();
    await server?.stop();
  });

  it('runs a bash gear: config.json in the spec shape, inputs placed, logs streamed, outputs saved by the job', async () => {
    const up = await server.admin.upload(`/acquisitions/${ids.acquisition}/files`, [{ name: 'notes.txt', content: 'notes' }]);
    expect(up.status).toBe(200);
    const id = await addJob(server.admin, {
      gear_id: gears['echo-config'],
      inputs: { text: { type: 'acquisition', id: ids.acquisition, name: 'notes.txt' } },
      config: { message: 'hello' },
    });
    const job = await waitForJob(server.admin, id);
    expect(job.state, engine.output()).toBe('complete');
    expect(Object.keys(job.transitions).sort()).toEqual(['complete', 'running']);

    const logs = await jobLog(server.admin, id);
    const configLine = logs.find((l) => l.fd === 1 && l.msg.startsWith('config.json: '))!;
    const delivered = JSON.parse(configLine.msg.slice('config.json: '.length));
    expect(delivered).toEqual({
      config: { message: 'hello' },
      inputs: {
        text: {
          base: 'file',
          hierarchy: { type: 'acquisition', id: ids.acquisition },
          location: { name: 'notes.txt', path: '/flywheel/v0/input/text/notes.txt' },
          object: expect.objectContaining({ size: 5, tags: [], info: {} }),
        },
      },
      destination: { type: 'acquisition', id: ids.acquisition },
    });
    expect(logs).toContainEqual({
      fd: 1,
      msg: 'message=hello greeting=hello from the manifest path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    });
    expect(logs).toContainEqual({ fd: 2, msg: 'to stderr' });
    expect(logs.some((l) => l.fd === -1 && l.msg.includes('claimed the job'))).toBe(true);

    const acq = (await server.admin.get(`/acquisitions/${ids.acquisition}`)).body;
    const outputs = acq.files.filter((f: any) => f.origin?.type === 'job' && f.origin?.id === id);
    expect(outputs.map((f: any) => f.name).sort()).toEqual(['config-copy.json', 'inputs.txt', 'nested.txt']);
    const copy = await server.admin.bytes(`/acquisitions/${ids.acquisition}/files/config-copy.json`);
    expect(JSON.parse(copy.data.toString())).toEqual(delivered);
    const inputs = await server.admin.bytes(`/acquisitions/${ids.acquisition}/files/inputs.txt`);
    expect(inputs.data.toString()).toBe('input/text/notes.txt\n');
    expect(job.saved_files.sort()).toEqual(['config-copy.json', 'inputs.txt', 'nested.txt']);

    expect(job.profile).toMatchObject({
      total_input_files: 1,
      total_input_size_bytes: 5,
      total_output_files: 3,
      executor: { name: executor, cpu_cores: expect.any(Number), memory_bytes: expect.any(Number), host: expect.any(String) },
    });
    for (const k of ['preparation_time_ms', 'elapsed_time_ms', 'upload_time_ms', 'total_time_ms', 'total_output_size_bytes']) {
      expect(job.profile[k], k).toEqual(expect.any(Number));
    }
  });

  it('applies output/.metadata.json', async () => {
    const id = await addJob(server.admin, { gear_id: gears['write-metadata'], destination: { type: 'acquisition', id: ids.acquisition } });
    const job = await waitForJob(server.admin, id);
    expect(job.state, engine.output()).toBe('complete');
    const acq = (await server.admin.get(`/acquisitions/${ids.acquisition}`)).body;
    const result = acq.files.find((f: any) => f.name === 'result.txt');
    expect(result).toMatchObject({ type: 'text', info: { score: 42 }, origin: { type: 'job', id } });
    expect(acq.info.from_gear).toBe(true);
    expect(acq.tags).toContain('gear-tag');
    expect(job.produced_metadata.acquisition.files[0].name).toBe('result.txt');
  });

  it('fails a gear that exits non-zero, naming the code, and keeps its outputs flagged', async () => {
    const id = await addJob(server.admin, { gear_id: gears['exit-three'], destination: { type: 'acquisition', id: ids.acquisition } });
    const job = await waitForJob(server.admin, id);
    expect(job.state).toBe('failed');
    expect(job.failure_reason).toMatch(/exited with code 3/);
    expect(job.exit_code).toBe(3);
    const logs = await jobLog(server.admin, id);
    expect(logs).toContainEqual({ fd: 1, msg: 'about to fail' });
    const acq = (await server.admin.get(`/acquisitions/${ids.acquisition}`)).body;
    const partial = acq.files.find((f: any) => f.name === 'partial.txt');
    expect(partial).toMatchObject({ origin: { type: 'job', id }, from_failed_job: true });
  });

  it('kills the whole process tree of a cancelled job within seconds and keeps working', async () => {
    const marker = `sprocket-e2e-cancel-${process.pid}-${Date.now()}`;
    const id = await addJob(server.admin, {
      gear_id: gears.slow,
      destination: { type: 'acquisition', id: ids.acquisition },
      config: { marker },
    });
    await waitForJob(server.admin, id, ['running']);
    expect(await eventually(async () => (await jobLog(server.admin, id)).some((l) => l.msg === 'started'), 20_000)).toBe(true);
    expect(processesWith(marker).length).toBeGreaterThanOrEqual(2);
    expect((await server.admin.put(`/jobs/${id}`, { state: 'cancelled' })).status).toBe(200);
    expect(await eventually(() => processesWith(marker).length === 0, 10_000)).toBe(true);
    expect((await waitForJob(server.admin, id)).state).toBe('cancelled');
    // The engine noticed and is free for more work.
    const next = await addJob(server.admin, {
      gear_id: gears.slow,
      destination: { type: 'acquisition', id: ids.acquisition },
      config: { seconds: 0 },
    });
    expect((await waitForJob(server.admin, next)).state).toBe('complete');
    expect(
      await eventually(async () => (await jobLog(server.admin, id)).some((l) => l.fd === -1 && l.msg.includes('cancelled')), 5000),
    ).toBe(true);
  });

  it('stops a gear that outruns its walltime and fails the job saying so', async () => {
    const marker = `sprocket-e2e-walltime-${process.pid}-${Date.now()}`;
    const id = await addJob(server.admin, {
      gear_id: gears.slow,
      destination: { type: 'acquisition', id: ids.acquisition },
      config: { marker },
      resources: { walltime: 1 },
    });
    const job = await waitForJob(server.admin, id);
    expect(job.state).toBe('failed');
    expect(job.failure_reason).toMatch(/walltime of 1 s/);
    expect(await eventually(() => processesWith(marker).length === 0, 10_000)).toBe(true);
  });

  it('stops a gear that fills its work folder past the job disk limit and fails the job naming the limit', async () => {
    const id = await addJob(server.admin, {
      gear_id: gears.hog,
      destination: { type: 'acquisition', id: ids.acquisition },
      config: { mode: 'disk' },
    });
    const job = await waitForJob(server.admin, id, undefined, 60_000);
    expect(job.state).toBe('failed');
    expect(job.failure_reason).toBe(
      'the job folder (inputs aside) grew past the job disk limit of 20 MiB (SPROCKET_JOB_DISK_LIMIT) and the gear was stopped',
    );
    expect((await jobLog(server.admin, id)).map((l) => l.msg).join('')).not.toContain('wrote 400 MiB');
  });

  it('kills a gear that allocates beyond its memory request and fails the job saying so', async () => {
    const id = await addJob(server.admin, {
      gear_id: gears.hog,
      destination: { type: 'acquisition', id: ids.acquisition },
      config: { mode: 'memory' },
      resources: { memory: '64M' },
    });
    const job = await waitForJob(server.admin, id);
    expect(job.state).toBe('failed');
    const memoryCgroup = fs.existsSync('/sys/fs/cgroup/memory/cgroup.procs');
    // Where no memory cgroup can be made, prlimit --as makes the allocation fail instead of a kill.
    if (memoryCgroup) expect(job.failure_reason).toBe('the gear used more than its memory request of 64 MiB and was killed');
    else expect(job.failure_reason).toMatch(/exited with code/);
  });

  it('fails a job whose input cannot be downloaded, with a system log line', async () => {
    const other = await makeHierarchy(server.admin);
    await server.admin.upload(`/acquisitions/${other.acquisition}/files`, [{ name: 'gone.txt', content: 'soon gone' }]);
    await engine.stop();
    try {
      const id = await addJob(server.admin, {
        gear_id: gears['echo-config'],
        inputs: { text: { type: 'acquisition', id: other.acquisition, name: 'gone.txt' } },
      });
      expect((await server.admin.del(`/acquisitions/${other.acquisition}/files/gone.txt`)).status).toBe(200);
      engine = startEngine(await engineKey(server.admin), { concurrency: 2, executor });
      const job = await waitForJob(server.admin, id);
      expect(job.state).toBe('failed');
      expect(job.failure_reason).toMatch(/could not be prepared: input text .* could not be downloaded/);
      const logs = await jobLog(server.admin, id);
      expect(logs.some((l) => l.fd === -1 && l.msg.startsWith('The gear could not be prepared'))).toBe(true);
    } finally {
      if (engine.proc.exitCode !== null) engine = startEngine(await engineKey(server.admin), { concurrency: 2, executor });
    }
  });

  it('gives an api-key gear network and a read-only key that works only while the job runs', async () => {
    const id = await addJob(server.admin, { gear_id: gears['api-key'], destination: { type: 'acquisition', id: ids.acquisition } });
    const job = await waitForJob(server.admin, id);
    const logs = await jobLog(server.admin, id);
    expect(job.state, JSON.stringify(logs)).toBe('complete');
    expect(logs.some((l) => l.fd === -1 && l.msg.startsWith('Networking allowed'))).toBe(true);
    expect(logs.some((l) => l.fd === 1 && l.msg.startsWith('I am '))).toBe(true);
    expect(logs).toContainEqual({ fd: 1, msg: 'write refused 403' });
    const key = (await server.admin.bytes(`/acquisitions/${ids.acquisition}/files/key.txt`)).data.toString();
    expect((await server.as(key).get('/users/self')).status).toBe(401);
  });
});
