import { ERRORS, type ErrorCode } from '@sprocket/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHierarchy, type Reply, startTestServer, type TestServer } from './helpers.js';
import { makeUser } from './people.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.stop();
});

const MISSING = '0123456789abcdef01234567';

/** The reply is the catalogue's: its code, the code's status, and a message naming what failed. */
function answers(r: Reply, code: ErrorCode, message: string | RegExp) {
  expect(r.body, JSON.stringify(r.body)).toMatchObject({ status: ERRORS[code].status, code });
  expect(r.status).toBe(ERRORS[code].status);
  expect(r.body.message).toMatch(message);
}

describe('error codes on the wire', () => {
  it('names the area of what was not found', async () => {
    answers(await s.admin.get(`/jobs/${MISSING}`), 'JOB_NOT_FOUND', `job ${MISSING} not found`);
    answers(await s.admin.get(`/gears/${MISSING}`), 'GEAR_NOT_FOUND', `gear ${MISSING} not found`);
    answers(await s.admin.get(`/projects/${MISSING}`), 'CONTAINER_NOT_FOUND', `project ${MISSING} not found`);
    answers(await s.admin.get('/groups/nosuchgroup'), 'GROUP_NOT_FOUND', 'group nosuchgroup not found');
    answers(await s.admin.get('/users/nobody@lab.org'), 'USER_NOT_FOUND', 'user nobody@lab.org not found');
    answers(await s.admin.get('/no/such/route'), 'ROUTE_NOT_FOUND', 'no route GET /api/no/such/route');
  });

  it('answers a container the caller may not see as one that does not exist', async () => {
    const h = await makeHierarchy(s.admin);
    const stranger = await makeUser(s, `stranger-${Math.random().toString(36).slice(2, 8)}@lab.org`);
    answers(await stranger.get(`/projects/${h.project}`), 'CONTAINER_NOT_FOUND', `project ${h.project} not found`);
    answers(await stranger.get(`/projects/${MISSING}`), 'CONTAINER_NOT_FOUND', `project ${MISSING} not found`);
  });

  it('names what already exists', async () => {
    const h = await makeHierarchy(s.admin);
    answers(await s.admin.post('/groups', { _id: h.group, label: 'again' }), 'GROUP_EXISTS', `group ${h.group} already exists`);
    answers(
      await s.admin.post('/projects', { group: h.group, label: 'Project' }),
      'CONTAINER_EXISTS',
      `project 'Project' already exists in group ${h.group}`,
    );
    expect((await s.admin.post(`/sessions/${h.session}/tags`, { value: 'qc' })).status).toBe(200);
    answers(await s.admin.post(`/sessions/${h.session}/tags`, { value: 'qc' }), 'TAG_EXISTS', `tag 'qc' already on session ${h.session}`);
    answers(await s.admin.del(`/sessions/${h.session}/tags/other`), 'TAG_NOT_FOUND', `tag 'other' on session ${h.session} not found`);
  });

  it('tells a missing key from a refused one', async () => {
    answers(await s.anon.get('/projects'), 'AUTH_REQUIRED', 'an API key is required');
    answers(await s.as('127.0.0.1:1:__force_insecure:not-a-real-key').get('/projects'), 'AUTH_INVALID_KEY', 'invalid or revoked API key');
  });

  it('keeps VALIDATION for a body that breaks the schema', async () => {
    const h = await makeHierarchy(s.admin);
    answers(await s.admin.post('/projects', { group: h.group, label: 'P', nonesuch: 1 }), 'VALIDATION', /^body\.nonesuch: /);
  });
});
