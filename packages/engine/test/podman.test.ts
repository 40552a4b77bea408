import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { containerName, DEFAULT_PODMAN_UID_BASE, PodmanExecutor, podmanRunArgs } from '../src/executors/podman.js';
import { ExecutorSelector } from '../src/executors/select.js';
import { ensurePodmanImage, hasPodman, PODMAN } from './containers.js';
import { capture, eventually, jobDirFor, processesWith, runSpec } from './helpers.js';

if (!hasPodman) console.warn('podman and runc are not installed (npm run setup installs them): podman executor tests skipped');

const IMAGE = 'localhost/sprocket-test-bash:4';
const DEST = { type: 'acquisition', id: 'a'.repeat(24) };

/** A tiny image built from the host's bash and busybox, imported without any registry (how images get onto these machines). */
function ensureImage(): void {
  ensurePodmanImage(IMAGE);
}

describe.skipIf(!hasPodman)('podman executor', () => {
  const podman = new PodmanExecutor();
  beforeAll(() => ensureImage(), 60_000);

  it('runs a gear inside its image with the job mounted at /flywheel/v0', async () => {
    const config = { config: { message: 'from podman' }, inputs: {}, destination: DEST };
    const dir = jobDirFor('echo-config', config);
    const io = capture();
    const env = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      GEAR_GREETING: 'hi',
      FW_CONFIG_MESSAGE: 'from podman',
    };
    const result = await podman.run(runSpec(dir, { env, image: IMAGE }), io, new AbortController().signal);
    expect(io.err()).toBe('to stderr\n');
    expect(result.exitCode).toBe(0);
    expect(io.out()).toContain('message=from podman greeting=hi');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'output', 'config-copy.json'), 'utf8'))).toEqual(config);
  });

  it('reports the exit code, has no network, and applies memory and cpu limits', async () => {
    const dir = jobDirFor('exit-three', { config: {}, inputs: {}, destination: DEST });
    const io = capture();
    const script = 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes; ls /sys/class/net; exit 3';
    const spec = runSpec(dir, { image: IMAGE, command: ['bash', '-c', script], resources: { memory: '256M', cpu: 1 } });
    const result = await podman.run(spec, io, new AbortController().signal);
    expect(result.exitCode).toBe(3);
    expect(io.out().split('\n')).toEqual(['268435456', 'lo', '']);
  });

  it('runs the gear as the manifest’s uid/gid', async () => {
    const dir = jobDirFor('exit-three', { config: {}, inputs: {}, destination: DEST });
    const io = capture();
    const command = ['bash', '-c', 'echo "$(id -u):$(id -g)"; echo made > output/by-user.txt'];
    const result = await podman.run(runSpec(dir, { image: IMAGE, command, uid: 1000, gid: 1001 }), io, new AbortController().signal);
    expect(result.exitCode, io.err()).toBe(0);
    expect(io.out()).toBe('1000:1001\n');
    expect(fs.readFileSync(path.join(dir, 'output', 'by-user.txt'), 'utf8')).toBe('made\n');
  });

  it('stops a cancelled gear’s container and every process in it', async () => {
    const marker = `sprocket-slow-podman-${process.pid}-${Date.now()}`;
    const dir = jobDirFor('slow', { config: { marker }, inputs: {}, destination: DEST });
    const io = capture();
    const abort = new AbortController();
    const spec = runSpec(dir, { image: IMAGE, env: { PATH: '/usr/bin:/bin', FW_CONFIG_MARKER: marker } });
    const running = podman.run(spec, io, abort.signal);
    await io.waitFor('started');
    expect(await eventually(() => processesWith(marker).length >= 2, 5000)).toBe(true);
    abort.abort();
    // What `podman run` exits with after `podman stop` varies; the engine goes by why it stopped the gear.
    await running;
    expect(await eventually(() => processesWith(marker).length === 0, 15_000)).toBe(true);
    expect(spawnSync('podman', [...PODMAN, 'container', 'exists', containerName(spec.jobId)]).status).not.toBe(0);
  });

  it('is what auto picks for a gear naming a local image, and not for a missing one', async () => {
    const selector = new ExecutorSelector('auto');
    expect((await selector.pick({ image: IMAGE })).executor.name).toBe('podman');
    const missing = await selector.pick({ image: 'localhost/no-such-image:0' });
    expect(missing.executor.name).not.toBe('podman');
    expect(missing.note).toContain('not available to podman');
    await expect(new ExecutorSelector('podman').pick({ image: null })).rejects.toThrow(/names no container image/);
  });
});

describe.skipIf(process.getuid?.() !== 0)('rootful podman command line', () => {
  it('maps the container’s ids onto an unprivileged host range and bounds processes and file size', () => {
    const dir = jobDirFor('noop', { config: {}, inputs: {}, destination: { type: 'acquisition', id: 'a'.repeat(24) } });
    const args = podmanRunArgs(runSpec(dir, { image: 'example/gear:1', resources: { memory: '1G' } }));
    const at = (flag: string) => args[args.indexOf(flag) + 1];
    expect(at('--uidmap')).toBe(`0:${DEFAULT_PODMAN_UID_BASE}:65536`);
    expect(at('--gidmap')).toBe(`0:${DEFAULT_PODMAN_UID_BASE}:65536`);
    expect(at('--user')).toBe('0:0');
    expect(at('--pids-limit')).toBe('512');
    expect(at('--memory')).toBe(String(1024 ** 3));
    expect(args).toContain('no-new-privileges');
    expect(args).toContain(`fsize=${20 * 1024 ** 3}:${20 * 1024 ** 3}`);
  });
});
