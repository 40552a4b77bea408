import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addGear, manifest, ok } from './gear-kit.js';
import { freshDatabaseUrl, makeHierarchy, startTestServer, type TestServer } from './helpers.js';

/**
 * Two server processes on one database (the SQLite file of a shared data directory, or one
 * PostgreSQL database under SPROCKET_TEST_DATABASE_URL): each keeps its own parsed gears, and
 * neither may answer from them after the other changed the gear.
 */
describe('the gear cache across servers on one database', () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-test-'));
    const databaseUrl = await freshDatabaseUrl();
    a = await startTestServer({ dataDir, databaseUrl });
    b = await startTestServer({ dataDir, databaseUrl });
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('a gear uploaded through one server is seen by the other at once', async () => {
    const id = await addGear(a.admin, manifest());
    expect((await b.admin.get(`/gears/${id}`)).status).toBe(200);
  });

  it('a gear deleted through one server is gone on the other, which had it cached', async () => {
    const m = manifest();
    const id = await addGear(a.admin, m);
    const h = await makeHierarchy(b.admin);
    // b reads (and so caches) the gear, and launches it.
    expect(ok(await b.admin.get(`/gears/${id}`)).gear.name).toBe(m.name);
    ok(await b.admin.post('/jobs/add', { gear_id: id, destination: { type: 'acquisition', id: h.acquisition } }));
    // Pending jobs hold a gear; cancel it so a may delete the gear.
    const jobs = ok(await b.admin.get(`/jobs?filter=gear_id=${id}`));
    for (const j of jobs) ok(await a.admin.put(`/jobs/${j._id ?? j.id}`, { state: 'cancelled' }));
    ok(await a.admin.del(`/gears/${id}`));
    expect((await b.admin.get(`/gears/${id}`)).status).toBe(404);
    const launch = await b.admin.post('/jobs/add', { gear_id: id, destination: { type: 'acquisition', id: h.acquisition } });
    expect(launch.status).toBeGreaterThanOrEqual(400);
    expect(launch.status).toBeLessThan(500);
  });

  it('a gear changed through one server is read afresh by the other', async () => {
    const m = manifest({ label: 'Before' });
    const id = await addGear(a.admin, m);
    expect(ok(await b.admin.get(`/gears/${id}`)).gear.label).toBe('Before');
    // No route edits a stored gear today; a change is a new manifest and a new modified stamp,
    // written here through server a's own database handle as such a route would.
    await a.ctx.handle.db
      .updateTable('gears')
      .set({ manifest: JSON.stringify({ ...m, label: 'After' }), modified: new Date(Date.now() + 1000).toISOString() })
      .where('id', '=', id)
      .execute();
    expect(ok(await b.admin.get(`/gears/${id}`)).gear.label).toBe('After');
    expect(ok(await a.admin.get(`/gears/${id}`)).gear.label).toBe('After');
  });
});
