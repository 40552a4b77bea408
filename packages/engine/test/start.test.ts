import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, spawnCaptured } from '../../../test-fixtures/processes.js';
import { describe, expect, it } from 'vitest';
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
    const { proc: launcher, output, exited } = spawnCaptured(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/start.ts')], {
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
});
