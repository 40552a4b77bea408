import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CharliecloudExecutor, chImageName } from '../src/executors/charliecloud.js';
import { DEFAULT_GEAR_UID } from '../src/executors/limits.js';
import { ExecutorSelector } from '../src/executors/select.js';
import { CH_STORE, ensureChImage, hasCharliecloud } from './containers.js';
import { capture, eventually, jobDirFor, processesWith, runSpec, tempDir } from './helpers.js';

if (!hasCharliecloud)
  console.warn('charliecloud (ch-run) is not installed (npm run setup installs it): charliecloud executor tests skipped');

const IMAGE = 'localhost/sprocket-test-ch:1';
const DEST = { type: 'acquisition', id: 'a'.repeat(24) };
const isRoot = process.getuid?.() === 0;

describe('charliecloud image names', () => {
  it('names folders as ch-image does and refuses names that could leave the store', () => {
    expect(chImageName('localhost/fw-gear:1.0')).toBe('localhost%fw-gear+1.0');
    expect(() => chImageName('../../etc')).toThrow(/cannot name/);
    expect(() => chImageName('a b')).toThrow(/cannot name/);
  });
});

describe.skipIf(!hasCharliecloud)('charliecloud executor', () => {
  const ch = new CharliecloudExecutor(CH_STORE);
  beforeAll(() => {
    ensureChImage(chImageName(IMAGE));
  }, 60_000);

  it('runs a gear in its directory image with the job at /flywheel/v0, never as host root', async () => {
    const config = { config: { message: 'from ch-run' }, inputs: {}, destination: DEST };
    const dir = jobDirFor('echo-config', config, { dicom: { name: 'a.dcm', content: 'x' } });
    const io = capture();
    const env = { PATH: '/usr/bin:/bin', GEAR_GREETING: 'hi', FW_CONFIG_MESSAGE: 'from ch-run' };
    const result = await ch.run(runSpec(dir, { env, image: IMAGE }), io, new AbortController().signal);
    expect(result.exitCode, io.err()).toBe(0);
    expect(io.out()).toContain('message=from ch-run greeting=hi path=/usr/bin:/bin');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'output', 'config-copy.json'), 'utf8'))).toEqual(config);
    expect(fs.readFileSync(path.join(dir, 'output', 'inputs.txt'), 'utf8')).toBe('input/dicom/a.dcm\n');
    // The outputs belong to the site's gear user on the host, not to root.
    if (isRoot) expect(fs.statSync(path.join(dir, 'output', 'config-copy.json')).uid).toBe(DEFAULT_GEAR_UID);
  });

  it('runs the program the image holds at /flywheel/v0, and keeps input/ and config.json read-only', async () => {
    const dir = jobDirFor('noop', { config: {}, inputs: {}, destination: DEST }, { dicom: { name: 'a.dcm', content: 'x' } });
    fs.rmSync(path.join(dir, 'run'), { force: true });
    const io = capture();
    const script =
      './run && (echo y > input/dicom/a.dcm && echo input-writable || echo input-read-only) && (echo {} > config.json && echo config-writable || echo config-read-only)';
    const result = await ch.run(runSpec(dir, { image: IMAGE, command: ['bash', '-c', script] }), io, new AbortController().signal);
    expect(result.exitCode, io.err()).toBe(0);
    expect(io.out()).toContain('image program running as');
    expect(io.out()).toContain('in /flywheel/v0');
    expect(io.out()).toContain('input-read-only');
    expect(io.out()).toContain('config-read-only');
    expect(fs.readFileSync(path.join(dir, 'output', 'made-in-image.txt'), 'utf8')).toBe('from the image\n');
    expect(fs.readFileSync(path.join(dir, 'input', 'dicom', 'a.dcm'), 'utf8')).toBe('x');
  });

  it('has no network unless the gear asks for it, and runs as the manifest’s uid/gid', async () => {
    const server = net.createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const env = { PATH: '/usr/bin:/bin', FW_CONFIG_PORT: String(port) };
      for (const networking of [false, true]) {
        const dir = jobDirFor('network', { config: {}, inputs: {}, destination: DEST });
        const io = capture();
        const result = await ch.run(runSpec(dir, { image: IMAGE, env, networking }), io, new AbortController().signal);
        expect(io.out().trim(), io.err()).toBe(networking ? 'connected' : 'no network');
        expect(result.exitCode).toBe(networking ? 0 : 1);
      }
      const dir = jobDirFor('noop', { config: {}, inputs: {}, destination: DEST });
      const io = capture();
      const command = ['bash', '-c', 'echo "$(id -u):$(id -g)"; echo made > output/by-user.txt'];
      const result = await ch.run(runSpec(dir, { image: IMAGE, command, uid: 1000, gid: 1001 }), io, new AbortController().signal);
      expect(result.exitCode, io.err()).toBe(0);
      expect(io.out()).toBe('1000:1001\n');
      expect(fs.readFileSync(path.join(dir, 'output', 'by-user.txt'), 'utf8')).toBe('made\n');
    } finally {
      server.close();
    }
  });

  it('stops a cancelled gear and everything it started, within seconds', async () => {
    const marker = `sprocket-slow-ch-${process.pid}-${Date.now()}`;
    const dir = jobDirFor('slow', { config: { marker }, inputs: {}, destination: DEST });
    const io = capture();
    const abort = new AbortController();
    const running = ch.run(runSpec(dir, { image: IMAGE, env: { PATH: '/usr/bin:/bin', FW_CONFIG_MARKER: marker } }), io, abort.signal);
    await io.waitFor('started');
    expect(await eventually(() => processesWith(marker).length >= 2, 5000)).toBe(true);
    const stoppedAt = Date.now();
    abort.abort();
    await running;
    expect(await eventually(() => processesWith(marker).length === 0, 10_000)).toBe(true);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
  });

  it('bounds the gear’s processes by the site limit', async () => {
    const dir = jobDirFor('noop', { config: {}, inputs: {}, destination: DEST });
    const io = capture();
    const script = 'for i in $(seq 1 40); do sleep 2 & done; wait; echo all-started';
    const prev = process.env.SPROCKET_GEAR_MAX_PROCESSES;
    process.env.SPROCKET_GEAR_MAX_PROCESSES = '16';
    try {
      await ch.run(
        runSpec(dir, { image: IMAGE, command: ['bash', '-c', script.replace('$(seq 1 40)', '{1..40}')] }),
        io,
        new AbortController().signal,
      );
    } finally {
      if (prev === undefined) delete process.env.SPROCKET_GEAR_MAX_PROCESSES;
      else process.env.SPROCKET_GEAR_MAX_PROCESSES = prev;
    }
    expect(io.err()).toMatch(/fork|Resource temporarily unavailable/);
  });

  it('makes the /flywheel/v0 bind target in the store, never through a link the image holds', async () => {
    const store = tempDir('sprocket-ch-store-');
    const outside = tempDir('sprocket-ch-outside-');
    const image = 'localhost/sprocket-linked:1';
    fs.mkdirSync(path.join(store, chImageName(image)));
    fs.symlinkSync(outside, path.join(store, chImageName(image), 'flywheel'));
    const linked = new CharliecloudExecutor(store);
    const dir = jobDirFor('noop', { config: {}, inputs: {}, destination: DEST });
    await expect(linked.run(runSpec(dir, { image }), capture(), new AbortController().signal)).rejects.toThrow(
      /would go through the link \/flywheel/,
    );
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('is what auto picks for an image only charliecloud has, and a fixed choice refuses a missing one', async () => {
    const selector = new ExecutorSelector('auto', { workDir: path.dirname(CH_STORE) });
    Object.defineProperty(selector, 'charliecloud', { value: ch });
    const picked = await selector.pick({ image: IMAGE });
    // podman, when installed, does not have this name: charliecloud's store does.
    expect(picked.executor.name).toBe('charliecloud');
    const fixed = new ExecutorSelector('charliecloud');
    Object.defineProperty(fixed, 'charliecloud', { value: ch });
    await expect(fixed.pick({ image: 'localhost/no-such-image:0' })).rejects.toThrow(
      /container image localhost\/no-such-image:0 is not available to charliecloud on this engine: upload it with the gear \(sprocket gear upload --image/,
    );
  });
});
