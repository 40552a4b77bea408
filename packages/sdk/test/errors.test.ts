import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, Client, isApiError } from '../src/index.js';
import { adminKey, startTestServer, type TestServer, uniq } from './helpers.js';

let s: TestServer;
let fw: Client;
beforeAll(async () => {
  s = await startTestServer();
  fw = new Client(adminKey(s));
});
afterAll(async () => {
  await s?.stop();
});

describe('ApiError', () => {
  it('carries status, code, message and the request on 404', async () => {
    const err = await fw.getProject('0123456789abcdef01234567').catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({
      status: 404,
      code: 'CONTAINER_NOT_FOUND',
      method: 'GET',
      url: `${s.url}/projects/0123456789abcdef01234567`,
    });
    expect(err.message).toMatch(/not found/);
    expect(String(err)).toContain('(404)');
  });

  it('carries the field and rule on 400', async () => {
    const group = await fw.addGroup({ id: uniq('err') });
    const project = await group.addProject({ label: 'P' });
    const err = await project.update({ label: '' }).catch((e) => e);
    expect(err).toMatchObject({ status: 400, code: 'VALIDATION', method: 'PUT' });
    expect(err.message).toMatch(/label/);
    const dup = await group.addProject({ label: 'P' }).catch((e) => e);
    expect(dup).toMatchObject({ status: 409, code: 'CONTAINER_EXISTS', method: 'POST', url: `${s.url}/projects` });
  });

  it('is 401 for a bad key', async () => {
    const bad = new Client(`${new URL(s.url).host}:__force_insecure:not-a-real-key`);
    const err = await bad.getCurrentUser().catch((e) => e);
    expect(err).toMatchObject({ status: 401, code: 'AUTH_INVALID_KEY', method: 'GET', url: `${s.url}/users/self` });
  });

  it('is status 0 / UNREACHABLE when nothing answers', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const down = new Client(`127.0.0.1:${port}:__force_insecure:whatever`, { retries: 0 });
    const err = await down.getConfig().catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 0, code: 'UNREACHABLE', method: 'GET' });
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it("carries the catalogue's code, which isApiError tells apart", async () => {
    const err: unknown = await fw.getJob('0123456789abcdef01234567').catch((e) => e);
    expect(err).toMatchObject({ status: 404, code: 'JOB_NOT_FOUND', message: 'job 0123456789abcdef01234567 not found' });
    expect(isApiError(err)).toBe(true);
    expect(isApiError(err, 'JOB_NOT_FOUND')).toBe(true);
    expect(isApiError(err, 'GEAR_NOT_FOUND', 'JOB_NOT_FOUND')).toBe(true);
    expect(isApiError(err, 'CONTAINER_NOT_FOUND')).toBe(false);
    expect(isApiError(new Error('job 0123456789abcdef01234567 not found'), 'JOB_NOT_FOUND')).toBe(false);
    if (isApiError(err, 'JOB_NOT_FOUND', 'GEAR_NOT_FOUND')) {
      // Narrowed: a code outside the two given does not type-check here.
      // @ts-expect-error 'VALIDATION' is not one of the narrowed codes
      expect(err.code === 'VALIDATION').toBe(false);
    }
  });

  it('reports a code it does not know as HTTP_<status>, keeping the body', async () => {
    const srv = http.createServer((_req, res) => {
      res
        .writeHead(418, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ status: 418, code: 'TEAPOT', message: 'short and stout' }));
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    try {
      const port = (srv.address() as net.AddressInfo).port;
      const err = await new Client(`127.0.0.1:${port}:__force_insecure:whatever`, { retries: 0 }).getConfig().catch((e) => e);
      expect(err).toMatchObject({ status: 418, code: 'HTTP_418', message: 'short and stout', body: { code: 'TEAPOT' } });
    } finally {
      await new Promise((resolve) => srv.close(resolve));
    }
  });
});
