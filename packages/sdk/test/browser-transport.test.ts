import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpTransport } from '../src/browser.js';

/**
 * The web UI runs on this transport: `@sprocket/sdk/browser` must bundle for a browser with no
 * Node builtin in it, and a browser session's CSRF header goes on state-changing requests only.
 */
const here = path.dirname(fileURLToPath(import.meta.url));

describe('@sprocket/sdk/browser', () => {
  it('bundles for the browser without any Node builtin', async () => {
    const r = await build({
      entryPoints: [path.join(here, '../src/browser.ts')],
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      conditions: ['@sprocket/source'],
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.some((f) => f.endsWith('http-transport.ts'))).toBe(true);
    // esbuild fails on an unresolvable `node:` import for the browser; an inlined one would be listed here.
    expect(inputs.filter((f) => f.startsWith('node:') || /[\\/]node_modules[\\/]ajv[\\/]/.test(f))).toEqual([]);
  });

  describe('stateHeaders', () => {
    let server: http.Server;
    let base: string;
    const seen: { method: string; csrf?: string }[] = [];
    beforeAll(async () => {
      server = http.createServer((req, res) => {
        seen.push({ method: req.method!, csrf: req.headers['x-csrf-token'] as string | undefined });
        res.setHeader('Content-Type', 'application/json');
        res.end('{"ok":true}');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
    });
    afterAll(() => new Promise((r) => server.close(r)));

    it('adds the hook headers to POST, PUT and DELETE, asked for at each request, and never to GET', async () => {
      let token = 'first';
      const t = new HttpTransport(base, undefined, { stateHeaders: () => ({ 'X-CSRF-Token': token }), credentials: 'same-origin' });
      await t.requestJson('GET', '/x');
      await t.requestJson('POST', '/x', { body: {} });
      token = 'second';
      await t.requestJson('PUT', '/x', { body: {} });
      await t.requestJson('DELETE', '/x');
      expect(seen).toEqual([
        { method: 'GET', csrf: undefined },
        { method: 'POST', csrf: 'first' },
        { method: 'PUT', csrf: 'second' },
        { method: 'DELETE', csrf: 'second' },
      ]);
    });
  });
});
