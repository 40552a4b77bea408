import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, parseApiKey, readStoredKey, removeStoredKey, SdkError, storeKey, userConfigPath } from '../src/index.js';

describe('API key parsing', () => {
  it('reads the address out of the compound key like Flywheel does', () => {
    expect(parseApiKey('lab.example.org:8443:__force_insecure:s3cret')).toMatchObject({
      baseUrl: 'http://lab.example.org:8443/api',
      secret: 's3cret',
      secure: false,
      port: 8443,
    });
    expect(parseApiKey('lab.example.org:8443:s3cret')).toMatchObject({
      baseUrl: 'https://lab.example.org:8443/api',
      secret: 's3cret',
      secure: true,
    });
    expect(parseApiKey('lab.example.org:s3cret')).toMatchObject({ baseUrl: 'https://lab.example.org:443/api', secret: 's3cret' });
  });

  it('refuses keys it cannot place', () => {
    expect(() => parseApiKey('justasecret')).toThrow(/invalid API key/);
    expect(() => parseApiKey('host:notaport:secret')).toThrow(/port 'notaport'/);
    expect(() => parseApiKey('host::secret')).toThrow(/invalid API key/);
  });
});

describe('stored key', () => {
  let home: string;
  beforeAll(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'sdk-home-'));
  });
  afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

  it('lives in ~/.config/sprocket/user.json, or under $XDG_CONFIG_HOME', () => {
    expect(userConfigPath({ HOME: home })).toBe(path.join(home, '.config', 'sprocket', 'user.json'));
    expect(userConfigPath({ HOME: home, XDG_CONFIG_HOME: path.join(home, 'xdg') })).toBe(path.join(home, 'xdg', 'sprocket', 'user.json'));
  });

  it('is written 0600, read back by a Client without a key, and removed', () => {
    const env = { HOME: home };
    expect(readStoredKey(env)).toBeUndefined();
    expect(() => new Client(undefined, { env })).toThrow(SdkError);
    const file = storeKey('127.0.0.1:9:__force_insecure:abc', env);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ key: '127.0.0.1:9:__force_insecure:abc' });
    expect(new Client(undefined, { env }).baseUrl).toBe('http://127.0.0.1:9/api');
    expect(removeStoredKey(env)).toBe(true);
    expect(removeStoredKey(env)).toBe(false);
  });

  it('says what is wrong with a damaged key file', () => {
    const env = { HOME: home, XDG_CONFIG_HOME: path.join(home, 'bad') };
    fs.mkdirSync(path.dirname(userConfigPath(env)), { recursive: true });
    fs.writeFileSync(userConfigPath(env), '{not json');
    expect(() => readStoredKey(env)).toThrow(/not valid JSON/);
    fs.writeFileSync(userConfigPath(env), '{}');
    expect(() => readStoredKey(env)).toThrow(/no 'key'/);
  });
});

describe('request headers', () => {
  it("sends only the key's secret, as scitran-user, with the Subject-Container feature", async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.headers);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ _id: 'me@lab.org', email: 'me@lab.org', roles: ['user'] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const fw = new Client(`127.0.0.1:${port}:__force_insecure:the-secret`);
      const me = await fw.getCurrentUser();
      expect(me.id).toBe('me@lab.org');
      expect(me.email).toBe('me@lab.org');
      expect(seen[0]!.authorization).toBe('scitran-user the-secret');
      expect(seen[0]!['x-accept-feature']).toBe('Subject-Container');
      expect(seen[0]!['user-agent']).toMatch(/^Sprocket SDK\//);
    } finally {
      server.close();
    }
  });
});
