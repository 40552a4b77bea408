import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Api, makeHierarchy } from '../../server/test/helpers.js';
import { addJob, uploadGear, waitForJob } from './engines.js';
import { eventually, tempDir } from './helpers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start', () => {
  it('runs the server and an engine beside it, and Ctrl-C stops both', async () => {
    const dataDir = tempDir('sprocket-start-');
    const port = await freePort();
    const launcher = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/start.ts')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, SPROCKET_DATA_DIR: dataDir, SPROCKET_PORT: String(port), SPROCKET_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    launcher.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    launcher.stderr!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => launcher.once('exit', (code) => resolve(code)));
    try {
      expect(await eventually(() => /\[engine\] \S+\/(\d+) working for/.test(out), 40_000), out).toBe(true);
      const enginePid = Number(/\[engine\] \S+\/(\d+) working for/.exec(out)![1]);
      const api = new Api(`http://127.0.0.1:${port}/api`, fs.readFileSync(path.join(dataDir, 'admin-api-key'), 'utf8').trim());
      const ids = await makeHierarchy(api);
      const gear = await uploadGear(api, 'noop');
      const job = await waitForJob(api, await addJob(api, { gear_id: gear, destination: { type: 'acquisition', id: ids.acquisition } }));
      expect(job.state).toBe('complete');
      expect(job.claimed_by.endsWith(`/${enginePid}`)).toBe(true);

      // Ctrl-C reaches the launcher; it stops the engine, then the server.
      launcher.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(alive(enginePid)).toBe(false);
      await expect(fetch(`http://127.0.0.1:${port}/api/version`)).rejects.toThrow();
    } finally {
      // Twice: the second stops the server and engine at once; a SIGKILL would orphan them.
      if (launcher.exitCode === null) {
        launcher.kill('SIGINT');
        await new Promise((r) => setTimeout(r, 200));
        launcher.kill('SIGINT');
        await exited;
      }
    }
  });
});
