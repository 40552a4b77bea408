import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHierarchy, startTestServer, type TestServer } from './helpers.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.stop();
});

// Patterns like (a+)+$ backtrack exponentially; run in the server's thread they would stall it.
describe('user regular expressions', () => {
  it('refuses nested quantifiers in list filters and data views, and keeps ordinary patterns working', async () => {
    const h = await makeHierarchy(s.admin);
    await s.admin.put(`/acquisitions/${h.acquisition}`, { label: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaa!' });
    const bad = await s.admin.get(`/acquisitions?filter=${encodeURIComponent('label=~(a+)+$')}`);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/filter term 'label=~\(a\+\)\+\$': regular expression nests quantifiers/);
    const good = await s.admin.get(`/acquisitions?filter=${encodeURIComponent('label=~^a+!$')}`);
    expect(good.body.map((a: any) => a._id)).toEqual([h.acquisition]);

    const view = await s.admin.request('POST', `/views/data?containerId=${h.project}`, {
      columns: [{ src: 'file.name' }],
      fileSpec: { container: 'acquisition', filter: { value: '(x*)*y', regex: true } },
    });
    expect(view.status).toBe(400);
    expect(view.body.message).toMatch(/fileSpec\.filter\.value: regular expression nests quantifiers/);
    const long = await s.admin.get(`/acquisitions?filter=${encodeURIComponent(`label=~${'a'.repeat(600)}`)}`);
    expect(long.status).toBe(400);
    expect(long.body.message).toContain('longer than 512 characters');
  });
});
