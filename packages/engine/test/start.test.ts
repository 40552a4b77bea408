import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freePort, spawnCaptured } from '../../../test-fixtures/processes.js';
import { Api, makeHierarchy } from '../../server/test/helpers.js';
import { addJob, uploadGear, waitForJob } from './engines.js';
import { eventually, tempDir } from './helpers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

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
    const {
      proc: launcher,
      output,
      exited,
    } = spawnCaptured(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/start.ts')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, SPROCKET_DATA_DIR: dataDir, SPROCKET_PORT: String(port), SPROCKET_LOG_LEVEL: 'warn' },
    });
    try {
      expect(await eventually(() => /\[engine\] \S+\/(\d+) working for/.test(output()), 40_000), output()).toBe(true);
      const enginePid = Number(/\[engine\] \S+\/(\d+) working for/.exec(output())![1]);
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

  it('dies whole with its launcher on kill -9, and a second start on the busy port says so', async () => {
    const dataDir = tempDir('sprocket-start-');
    const port = await freePort();
    const env = {
      PATH: process.env.PATH,
      SPROCKET_DATA_DIR: dataDir,
      SPROCKET_PORT: String(port),
      SPROCKET_LOG_LEVEL: 'warn',
      SPROCKET_INSTALL_GEARS: 'false',
    };
    const first = spawnCaptured(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/start.ts')], { cwd: ROOT, env });
    let children: number[] = [];
    try {
      expect(await eventually(() => /\[engine\] \S+\/(\d+) working for/.test(first.output()), 40_000), first.output()).toBe(true);
      children = childrenOf(first.proc.pid!);
      expect(children.length).toBe(2); // the server and the engine

      const second = spawnCaptured(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/start.ts')], {
        cwd: ROOT,
        env: { ...env, SPROCKET_DATA_DIR: tempDir('sprocket-start-') },
      });
      expect(await second.exited).toBe(1);
      expect(second.output()).toContain(`[start] port ${port} on 127.0.0.1 is already in use`);
      expect((await fetch(`http://127.0.0.1:${port}/api/version`)).ok).toBe(true);

      first.proc.kill('SIGKILL');
      await first.exited;
      expect(await eventually(() => children.every((pid) => !alive(pid)), 10_000)).toBe(true);
      expect(
        await eventually(async () => {
          try {
            await fetch(`http://127.0.0.1:${port}/api/version`);
            return false;
          } catch {
            return true;
          }
        }, 10_000),
      ).toBe(true);
    } finally {
      for (const pid of children) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});

/** Pids whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
