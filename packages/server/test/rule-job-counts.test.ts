import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addGear, manifest } from './gear-kit.js';
import { makeHierarchy, startTestServer, type TestServer } from './helpers.js';
import { ok } from './people.js';

/** GET /projects/{id}/rules/jobs: what each rule launched, as the Gear rules tab shows it. */
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.stop();
});

describe('rule job counts', () => {
  it("counts each rule's launches once, retries included, with the states of their latest attempts", async () => {
    const h = await makeHierarchy(s.admin);
    const gear = await addGear(s.admin, manifest({ inputs: { file: { base: 'file' } } }));
    const rule = async (name: string, value: string) =>
      ok(await s.admin.post(`/projects/${h.project}/rules`, { gear_id: gear, name, any: [{ type: 'file.name', value: `*.${value}` }] }))
        ._id as string;
    const txt = await rule('texts', 'txt');
    const csv = await rule('tables', 'csv');
    ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'a.txt', content: 'a' }]));
    ok(await s.admin.upload(`/acquisitions/${h.acquisition}/files`, [{ name: 'b.txt', content: 'b' }]));
    const jobs = ok(await s.admin.get(`/jobs?filter=origin.id=rule:${txt}&sort=created:asc`)) as { id: string }[];
    expect(jobs).toHaveLength(2);
    ok(await s.admin.put(`/jobs/${jobs[0]!.id}`, { state: 'cancelled' }));
    ok(await s.admin.put(`/jobs/${jobs[1]!.id}`, { state: 'cancelled' }));
    // The second cancelled job is retried: still two launches, one of them pending again.
    ok(await s.admin.post(`/jobs/${jobs[1]!.id}/retry?ignoreState=true`));

    const counts = ok(await s.admin.get(`/projects/${h.project}/rules/jobs`));
    expect(counts).toEqual({
      [txt]: { launched: 2, pending: 1, running: 0, complete: 0, failed: 0, cancelled: 1 },
      [csv]: { launched: 0, pending: 0, running: 0, complete: 0, failed: 0, cancelled: 0 },
    });
    // Another project's rules are its own.
    const other = await makeHierarchy(s.admin);
    expect(ok(await s.admin.get(`/projects/${other.project}/rules/jobs`))).toEqual({});
  });
});
