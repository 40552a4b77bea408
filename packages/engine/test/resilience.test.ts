import { loadConfig, startServer } from '@sprocket/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, makeHierarchy, startTestServer, type TestServer } from '../../server/test/helpers.js';
import { BwrapExecutor } from '../src/executors/bwrap.js';
import { addJob, type EngineProcess, engineKey, jobLog, startEngine, uploadGear, waitForJob } from './engines.js';
import { eventually, processesWith } from './helpers.js';

const hasBwrap = await new BwrapExecutor().available();
/** How many no-op jobs four engines race over. */
const RACE_JOBS = Number(process.env.SPROCKET_TEST_RACE_JOBS ?? 1000);

describe('engines that die, race and lose the API', () => {
  let server: TestServer;
  let key: string;
  const gears: Record<string, string> = {};
  const engines: EngineProcess[] = [];
  const engine = (opts: Parameters<typeof startEngine>[1] = {}) => {
    const e = startEngine(key, opts);
    engines.push(e);
    return e;
  };

  beforeAll(async () => {
    // A short heartbeat timeout so the orphan sweep acts within the test.
    server = await startTestServer({ env: { SPROCKET_JOB_HEARTBEAT_TIMEOUT: '3', SPROCKET_JOB_MAX_ATTEMPTS: '3' } });
    key = await engineKey(server.admin);
    for (const g of ['slow', 'noop']) gears[g] = await uploadGear(server.admin, g);
  });
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.stop()));
    await server?.stop();
  });

  it.skipIf(!hasBwrap)('retries the job of an engine killed with -9 mid-run; a second engine completes it exactly once', async () => {
    const ids = await makeHierarchy(server.admin);
    const marker = `sprocket-e2e-kill9-${process.pid}-${Date.now()}`;
    const first = engine({ concurrency: 1, executor: 'bwrap' });
    const id = await addJob(server.admin, {
      gear_id: gears.slow,
      destination: { type: 'acquisition', id: ids.acquisition },
      config: { marker, seconds: 3 },
    });
    expect(await eventually(async () => (await jobLog(server.admin, id)).some((l) => l.msg === 'started'), 30_000)).toBe(true);
    await first.kill9();
    // bwrap --die-with-parent: the sandbox goes with the engine.
    expect(await eventually(() => processesWith(marker).length === 0, 10_000)).toBe(true);

    const orphaned = await waitForJob(server.admin, id, ['failed'], 30_000);
    expect(orphaned.failure_reason).toMatch(/orphaned/);
    const logs = await jobLog(server.admin, id);
    expect(logs.some((l) => l.fd === -1 && /no heartbeat/.test(l.msg))).toBe(true);
    const retryLine = logs.find((l) => l.fd === -1 && /Retried as job/.test(l.msg))!;
    const retryId = /Retried as job (\w+)/.exec(retryLine.msg)![1]!;

    const second = engine({ concurrency: 1, executor: 'bwrap' });
    const retry = await waitForJob(server.admin, retryId);
    expect(retry).toMatchObject({ state: 'complete', attempt: 2, previous_job_id: id });
    const acq = (await server.admin.get(`/acquisitions/${ids.acquisition}`)).body;
    expect(acq.files.filter((f: any) => f.name === 'done.txt').map((f: any) => f.origin)).toEqual([{ type: 'job', id: retryId }]);
    // The late engine's job is the only one of this gear that completed.
    const again = await server.admin.get(`/jobs/${id}`);
    expect(again.body.state).toBe('failed');
    expect(await second.stop()).toBe(0);
  });

  it(`runs ${RACE_JOBS} queued jobs on four racing engines, each exactly once`, async () => {
    const ids = await makeHierarchy(server.admin);
    const dest = { type: 'acquisition', id: ids.acquisition };
    const finished = async () => {
      const { states } = (await server.admin.get('/jobs/stats')).body;
      return states.complete + states.failed + states.cancelled;
    };
    const before = await finished();
    const jobIds: string[] = [];
    for (let i = 0; i < RACE_JOBS; i += 20) {
      const batch = Array.from({ length: Math.min(20, RACE_JOBS - i) }, () =>
        addJob(server.admin, { gear_id: gears.noop, destination: dest }),
      );
      jobIds.push(...(await Promise.all(batch)));
    }
    const racers = [0, 1, 2, 3].map(() => engine({ concurrency: 2 }));
    const done = await eventually(async () => (await finished()) >= before + RACE_JOBS, 150_000, 250);
    expect(done, racers.map((r) => r.output()).join('\n')).toBe(true);

    const claimedBy = new Map<string, number>();
    for (let i = 0; i < jobIds.length; i += 50) {
      const chunk = jobIds.slice(i, i + 50);
      const docs = await Promise.all(
        chunk.map(async (id) => ({ job: (await server.admin.get(`/jobs/${id}`)).body, logs: await jobLog(server.admin, id) })),
      );
      for (const { job, logs } of docs) {
        expect(job.state).toBe('complete');
        expect(job.attempt).toBe(1);
        expect(logs.filter((l) => l.fd === -1 && l.msg.includes('claimed the job'))).toHaveLength(1);
        expect(logs.filter((l) => l.fd === -1 && l.msg.startsWith('Job complete'))).toHaveLength(1);
        claimedBy.set(job.claimed_by, (claimedBy.get(job.claimed_by) ?? 0) + 1);
      }
    }
    // Nothing left over, and no retries were queued.
    const stats = (await server.admin.get('/jobs/stats')).body;
    expect(stats.states.pending + stats.states.running).toBe(0);
    expect(claimedBy.size).toBeGreaterThan(1);
    await Promise.all(racers.map((r) => r.stop()));
  }, 240_000);

  it('stops on SIGTERM after letting its running job finish', async () => {
    const ids = await makeHierarchy(server.admin);
    const e = engine({ concurrency: 1 });
    const id = await addJob(server.admin, {
      gear_id: gears.slow,
      destination: { type: 'acquisition', id: ids.acquisition },
      config: { seconds: 2 },
    });
    expect(await eventually(async () => (await jobLog(server.admin, id)).some((l) => l.msg === 'started'), 30_000)).toBe(true);
    expect(await e.stop()).toBe(0);
    const job = (await server.admin.get(`/jobs/${id}`)).body;
    expect(job.state).toBe('complete');
    expect(job.claimed_by.endsWith(`/${e.proc.pid}`)).toBe(true);
  });

  it.skipIf(!hasBwrap)('on SIGTERM past its grace period stops the gear and leaves the job to the orphan sweep', async () => {
    const ids = await makeHierarchy(server.admin);
    const marker = `sprocket-e2e-grace-${process.pid}-${Date.now()}`;
    const e = engine({ concurrency: 1, executor: 'bwrap', env: { SPROCKET_ENGINE_SHUTDOWN_GRACE: '1' } });
    const id = await addJob(server.admin, {
      gear_id: gears.slow,
      destination: { type: 'acquisition', id: ids.acquisition },
      config: { marker },
    });
    expect(await eventually(async () => (await jobLog(server.admin, id)).some((l) => l.msg === 'started'), 30_000)).toBe(true);
    expect(await e.stop()).toBe(0);
    expect(processesWith(marker)).toEqual([]);
    const orphaned = await waitForJob(server.admin, id, ['failed'], 30_000);
    expect(orphaned.failure_reason).toMatch(/orphaned/);
    const logs = await jobLog(server.admin, id);
    expect(logs.some((l) => l.fd === -1 && l.msg.includes('engine is shutting down'))).toBe(true);
    // The retry is not run here: no engine is left, so cancel it.
    const retryId = /Retried as job (\w+)/.exec(logs.find((l) => /Retried as job/.test(l.msg))!.msg)![1]!;
    expect((await server.admin.put(`/jobs/${retryId}`, { state: 'cancelled' })).status).toBe(200);
  });

  it('refuses to run with a key the API does not know', async () => {
    const wrong = startEngine(key.replace(/:[^:]+$/, ':not-a-real-secret'));
    engines.push(wrong);
    expect(await wrong.exited).toBe(1);
    expect(wrong.output()).toMatch(/refuses this engine's key/);
  });
});

describe('an engine whose API goes away', () => {
  it('finishes a job that was running while the API restarted, losing no log line', async () => {
    const first = await startTestServer();
    const config = {
      SPROCKET_DATA_DIR: first.dataDir,
      SPROCKET_PORT: new URL(first.url).port,
      ...(first.ctx.config.databaseUrl ? { DATABASE_URL: first.ctx.config.databaseUrl } : {}),
    };
    const key = await engineKey(first.admin);
    const gear = await uploadGear(first.admin, 'slow');
    const ids = await makeHierarchy(first.admin);
    const e = startEngine(key, { concurrency: 1 });
    let second: Awaited<ReturnType<typeof startServer>> | undefined;
    try {
      const id = await addJob(first.admin, {
        gear_id: gear,
        destination: { type: 'acquisition', id: ids.acquisition },
        config: { seconds: 4 },
      });
      expect(await eventually(async () => (await jobLog(first.admin, id)).some((l) => l.msg === 'started'), 30_000)).toBe(true);
      await first.stop();
      await new Promise((r) => setTimeout(r, 1500));
      second = await startServer(loadConfig(config));
      const api = new Api(second.url, first.admin.key);
      const job = await waitForJob(api, id);
      expect(job.state).toBe('complete');
      const msgs = (await jobLog(api, id)).map((l) => l.msg);
      expect(msgs).toContain('started');
      expect(msgs).toContain('done');
      const acq = (await api.get(`/acquisitions/${ids.acquisition}`)).body;
      expect(acq.files.filter((f: any) => f.name === 'done.txt')).toHaveLength(1);
    } finally {
      await e.stop();
      await second?.close();
    }
  });

  it('reconnects with backoff and takes work queued after the API is back', async () => {
    const first = await startTestServer();
    const dataDir = first.dataDir;
    const databaseUrl = first.ctx.config.databaseUrl;
    const port = new URL(first.url).port;
    const key = await engineKey(first.admin);
    const gear = await uploadGear(first.admin, 'noop');
    const ids = await makeHierarchy(first.admin);
    const e = startEngine(key, { concurrency: 1 });
    try {
      const before = await addJob(first.admin, { gear_id: gear, destination: { type: 'acquisition', id: ids.acquisition } });
      expect((await waitForJob(first.admin, before)).state).toBe('complete');
      await first.stop();
      // Down long enough for several failed asks.
      expect(await eventually(() => /cannot reach the API/.test(e.output()), 20_000)).toBe(true);
      const second = await startServer(
        loadConfig({ SPROCKET_DATA_DIR: dataDir, SPROCKET_PORT: port, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) }),
      );
      try {
        const api = new Api(second.url, first.admin.key);
        const after = await addJob(api, { gear_id: gear, destination: { type: 'acquisition', id: ids.acquisition } });
        expect((await waitForJob(api, after)).state).toBe('complete');
        expect(e.proc.exitCode).toBeNull();
      } finally {
        await second.close();
      }
    } finally {
      await e.stop();
    }
  });
});
