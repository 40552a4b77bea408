import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BwrapExecutor } from '../src/executors/bwrap.js';
import type { Executor } from '../src/executors/executor.js';
import { ProcessExecutor } from '../src/executors/process.js';
import { capture, eventually, jobDirFor, processesWith, runSpec } from './helpers.js';

const bwrap = new BwrapExecutor();
const hasBwrap = await bwrap.available();
if (!hasBwrap) console.warn('bubblewrap is not usable here (apt-get install bubblewrap): bwrap executor tests skipped');

const executors: [string, Executor, boolean][] = [
  ['process', new ProcessExecutor({ allowRoot: true }), true],
  ['bwrap', bwrap, hasBwrap],
];

const CONFIG = {
  config: { message: 'hello' },
  inputs: {
    text: {
      base: 'file',
      hierarchy: { type: 'acquisition', id: 'a'.repeat(24) },
      location: { name: 'notes.txt', path: '/flywheel/v0/input/text/notes.txt' },
      object: { info: {}, tags: [], measurements: [], classification: {}, mimetype: 'text/plain', type: 'text', modality: null, size: 5 },
    },
  },
  destination: { type: 'acquisition', id: 'a'.repeat(24) },
};

for (const [name, executor, usable] of executors) {
  describe.skipIf(!usable)(`${name} executor`, () => {
    it('runs a gear in its folder with the spec environment, capturing stdout and stderr', async () => {
      const dir = jobDirFor('echo-config', CONFIG, { text: { name: 'notes.txt', content: 'notes' } });
      const io = capture();
      const env = {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        GEAR_GREETING: 'hello from the manifest',
        FW_CONFIG_MESSAGE: 'hello',
      };
      const result = await executor.run(runSpec(dir, { env }), io, new AbortController().signal);
      expect(result).toEqual({ exitCode: 0 });
      expect(io.out()).toContain(`config.json: ${JSON.stringify(CONFIG)}`);
      expect(io.out()).toContain('message=hello greeting=hello from the manifest path=/usr/local/sbin:');
      expect(io.err()).toBe('to stderr\n');
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'output', 'config-copy.json'), 'utf8'))).toEqual(CONFIG);
      expect(fs.readFileSync(path.join(dir, 'output', 'inputs.txt'), 'utf8')).toBe('input/text/notes.txt\n');
      expect(fs.readFileSync(path.join(dir, 'output', 'sub', 'nested.txt'), 'utf8')).toBe('nested\n');
    });

    it('reports a failing gear’s exit code', async () => {
      const dir = jobDirFor('exit-three', { config: {}, inputs: {}, destination: CONFIG.destination });
      const io = capture();
      const result = await executor.run(runSpec(dir), io, new AbortController().signal);
      expect(result.exitCode).toBe(3);
      expect(io.out()).toBe('about to fail\n');
      expect(fs.existsSync(path.join(dir, 'output', 'partial.txt'))).toBe(true);
    });

    it('lets a gear write output/.metadata.json', async () => {
      const dir = jobDirFor('write-metadata', { config: {}, inputs: {}, destination: CONFIG.destination });
      const result = await executor.run(runSpec(dir), capture(), new AbortController().signal);
      expect(result.exitCode).toBe(0);
      const metadata = JSON.parse(fs.readFileSync(path.join(dir, 'output', '.metadata.json'), 'utf8'));
      expect(metadata.acquisition.files[0]).toEqual({ name: 'result.txt', type: 'text', info: { score: 42 } });
    });

    it('stops the whole process tree of a cancelled gear, even one ignoring SIGTERM', async () => {
      const marker = `sprocket-slow-${name}-${process.pid}-${Date.now()}`;
      const dir = jobDirFor('slow', { config: { marker }, inputs: {}, destination: CONFIG.destination });
      const io = capture();
      const abort = new AbortController();
      const running = executor.run(runSpec(dir, { env: { PATH: '/usr/bin:/bin', FW_CONFIG_MARKER: marker } }), io, abort.signal);
      await io.waitFor('started');
      // The child and the grandchild, both named after the marker.
      expect(await eventually(() => processesWith(marker).length >= 2, 5000)).toBe(true);
      abort.abort();
      const result = await running;
      expect(result.exitCode).toBeNull();
      expect(result.signal).toMatch(/^SIG(TERM|KILL)$/);
      expect(await eventually(() => processesWith(marker).length === 0, 10_000)).toBe(true);
    });

    it.skipIf(process.getuid?.() !== 0)('runs the gear as the manifest’s uid/gid, able to write its outputs', async () => {
      const dir = jobDirFor('exit-three', { config: {}, inputs: {}, destination: CONFIG.destination });
      // mkdtemp folders are private to root; the gear's user must be able to reach its folder.
      fs.chmodSync(path.dirname(dir), 0o755);
      const io = capture();
      const command = ['bash', '-c', 'echo "$(id -u):$(id -g)"; echo made > output/by-user.txt'];
      const result = await executor.run(runSpec(dir, { command, uid: 1000, gid: 1001 }), io, new AbortController().signal);
      expect(result.exitCode, io.err()).toBe(0);
      expect(io.out()).toBe('1000:1001\n');
      expect(fs.readFileSync(path.join(dir, 'output', 'by-user.txt'), 'utf8')).toBe('made\n');
    });

    it('leaves nothing running after a gear exits with background children still alive', async () => {
      const marker = `sprocket-leftover-${name}-${process.pid}-${Date.now()}`;
      const dir = jobDirFor('exit-three', { config: {}, inputs: {}, destination: CONFIG.destination });
      const command = ['bash', '-c', `(exec -a ${marker} sleep 300) & echo spawned`];
      const result = await executor.run(runSpec(dir, { command }), capture(), new AbortController().signal);
      expect(result.exitCode).toBe(0);
      expect(await eventually(() => processesWith(marker).length === 0, 10_000)).toBe(true);
    });
  });
}

describe.skipIf(!hasBwrap)('bwrap sandbox', () => {
  let server: net.Server;
  let port: number;
  beforeAll(async () => {
    server = net.createServer((socket) => {
      socket.on('error', () => {}); // the gear hangs up without reading
      socket.end('hello\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('refuses network to a gear without the networking capability', async () => {
    const dir = jobDirFor('network', { config: { port }, inputs: {}, destination: CONFIG.destination });
    const io = capture();
    const result = await bwrap.run(
      runSpec(dir, { env: { PATH: '/usr/bin:/bin', FW_CONFIG_PORT: String(port) } }),
      io,
      new AbortController().signal,
    );
    expect(result.exitCode).toBe(1);
    expect(io.out()).toContain('no network');
  });

  it('gives network to a gear with the networking capability', async () => {
    const dir = jobDirFor('network', { config: { port }, inputs: {}, destination: CONFIG.destination });
    const io = capture();
    const result = await bwrap.run(
      runSpec(dir, { networking: true, env: { PATH: '/usr/bin:/bin', FW_CONFIG_PORT: String(port) } }),
      io,
      new AbortController().signal,
    );
    expect(result.exitCode).toBe(0);
    expect(io.out()).toContain('connected');
  });

  it('mounts the job at /flywheel/v0 with inputs and the host system read-only', async () => {
    const dir = jobDirFor('echo-config', CONFIG, { text: { name: 'notes.txt', content: 'notes' } });
    const io = capture();
    const script = [
      'pwd',
      'echo "FLYWHEEL=$FLYWHEEL HOME=[$HOME]"',
      'cat /flywheel/v0/input/text/notes.txt; echo',
      'touch /flywheel/v0/input/text/new 2>/dev/null && echo input-writable || echo input-read-only',
      'touch /usr/sprocket-probe 2>/dev/null && echo usr-writable || echo usr-read-only',
      'touch /flywheel/v0/output/made && echo output-writable',
      'touch /flywheel/v0/work/scratch && echo work-writable',
      'ls /tmp | wc -l',
    ].join('; ');
    const result = await bwrap.run(runSpec(dir, { command: ['bash', '-c', script] }), io, new AbortController().signal);
    expect(result.exitCode).toBe(0);
    expect(io.out().split('\n')).toEqual([
      '/flywheel/v0',
      'FLYWHEEL=/flywheel/v0 HOME=[]',
      'notes',
      'input-read-only',
      'usr-read-only',
      'output-writable',
      'work-writable',
      '0',
      '',
    ]);
    expect(fs.existsSync(path.join(dir, 'output', 'made'))).toBe(true);
    expect(fs.existsSync('/usr/sprocket-probe')).toBe(false);
  });
});
