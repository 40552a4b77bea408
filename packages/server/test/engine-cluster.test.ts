import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addGear, EngineSim, engineKeyOf, manifest } from './gear-kit.js';
import { makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { ok } from './people.js';

/**
 * `PUT /jobs/{id}/cluster`: an engine that handed a job to a batch cluster (Slurm) records where it
 * stands there; `GET /jobs/{id}` shows it as `cluster`, jobs no cluster ran keep their shape.
 */
let s: TestServer;
let engine: EngineSim;
let gear: string;
let h: Awaited<ReturnType<typeof makeHierarchy>>;

beforeAll(async () => {
  s = await startTestServer();
  engine = new EngineSim(s.as(engineKeyOf(s)));
  h = await makeHierarchy(s.admin);
  gear = await addGear(s.admin, manifest({ inputs: {} }));
});
afterAll(async () => {
  await s?.stop();
});

const state = (over: Record<string, unknown> = {}) => ({
  scheduler: 'slurm',
  job_id: '42',
  state: 'PENDING',
  reason: 'Resources',
  summary: 'queued on cluster, reason: Resources',
  updated: new Date().toISOString(),
  ...over,
});

describe('the cluster state of a job', () => {
  it('is recorded by the engine running the job, shown on the job, and kept after the job ended', async () => {
    const id = ok(await s.admin.post('/jobs/add', { gear_id: gear, destination: { type: 'acquisition', id: h.acquisition } }))._id;
    expect((await s.admin.get(`/jobs/${id}`)).body).not.toHaveProperty('cluster');
    // Not before an engine claimed it.
    expect((await engine.api.put(`/jobs/${id}/cluster`, state())).status).toBe(409);
    const [job] = await engine.ask();
    expect(job.id).toBe(id);
    expect(ok(await engine.api.put(`/jobs/${id}/cluster`, state()))).toEqual({ modified: 1 });
    expect((await s.admin.get(`/jobs/${id}`)).body.cluster).toEqual(state({ updated: expect.any(String) }));

    // Another engine, a user, a bad body: refused, saying why.
    const other = s.as(ok(await s.admin.post('/devices', { name: 'other' })).key);
    expect((await other.put(`/jobs/${id}/cluster`, state())).status).toBe(409);
    expect((await s.admin.put(`/jobs/${id}/cluster`, state())).status).toBe(403);
    const bad = await engine.api.put(`/jobs/${id}/cluster`, state({ scheduler: 'pbs' }));
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/scheduler/);
    const missing = await engine.api.put(`/jobs/${id}/cluster`, { scheduler: 'slurm', job_id: '42' });
    expect(missing.status).toBe(400);

    ok(await engine.complete(id, false, { failure_reason: 'the job exceeded its walltime on the cluster' }));
    expect(ok(await engine.api.put(`/jobs/${id}/cluster`, state({ state: 'TIMEOUT', summary: 'timed out' })))).toEqual({ modified: 1 });
    const done = (await s.admin.get(`/jobs/${id}`)).body;
    expect(done).toMatchObject({ state: 'failed', cluster: { state: 'TIMEOUT', job_id: '42' } });

    // A retry starts without the cluster state of the attempt before.
    const retry = ok(await s.admin.post(`/jobs/${id}/retry`, {}));
    expect((await s.admin.get(`/jobs/${retry._id ?? retry.id}`)).body).not.toHaveProperty('cluster');
  });
});
