import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cli, startTestServer, type TestServer } from './helpers.js';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('login, logout, status', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('stores a checked key with mode 0600, shows who is logged in, and forgets it on logout', async () => {
    const cli = new Cli();
    expect(await cli.fails(['status'])).toBe("error: not logged in: run 'sprocket login <key>' first (or set SPROCKET_API_KEY)");

    const out = await cli.login(s.admin.key!);
    expect(out).toMatch(/^You are now logged in as Site Admin /);
    const file = path.join(cli.home, '.config', 'sprocket', 'user.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ key: s.admin.key });

    const status = await cli.ok(['status']);
    expect(status).toContain('You are logged in as Site Admin <admin@sprocket.local>');
    expect(status).toContain(s.url.replace(/\/api$/, ''));
    const json = await cli.json(['status']);
    expect(json.user).toMatchObject({ id: 'admin@sprocket.local', roles: ['site_admin'] });

    expect(await cli.ok(['logout'])).toBe('You are now logged out\n');
    expect(fs.existsSync(file)).toBe(false);
    expect(await cli.ok(['logout'])).toBe('You were not logged in\n');
  });

  it('refuses bad keys with one line: malformed, unknown secret, server down', async () => {
    const cli = new Cli();
    expect(await cli.fails(['login', 'nonsense'])).toMatch(/^error: invalid API key: expected host:port:secret/);
    const [host, port] = s.admin.key!.split(':');
    expect(await cli.fails(['login', `${host}:${port}:__force_insecure:not-a-real-secret`])).toMatch(
      /^error: the API key was refused \(.+\); log in again/,
    );
    expect(fs.existsSync(path.join(cli.home, '.config', 'sprocket', 'user.json'))).toBe(false);

    const dead = await closedPort();
    expect(await cli.fails(['login', `127.0.0.1:${dead}:__force_insecure:abc`])).toBe(
      `error: cannot reach the Sprocket API at http://127.0.0.1:${dead}/api (ECONNREFUSED)`,
    );
    // A stored key whose server has gone: every command says so in one line.
    fs.mkdirSync(path.join(cli.home, '.config', 'sprocket'), { recursive: true });
    fs.writeFileSync(
      path.join(cli.home, '.config', 'sprocket', 'user.json'),
      JSON.stringify({ key: `127.0.0.1:${dead}:__force_insecure:abc` }),
    );
    expect(await cli.fails(['ls', 'lab'])).toBe(`error: cannot reach the Sprocket API at http://127.0.0.1:${dead}/api (ECONNREFUSED)`);
  });

  it('SPROCKET_API_KEY overrides the stored key; unknown commands fail', async () => {
    const cli = new Cli({ SPROCKET_API_KEY: s.admin.key! });
    expect(await cli.ok(['status'])).toContain('Site Admin');
    const r = await cli.run(['frobnicate']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });
});
