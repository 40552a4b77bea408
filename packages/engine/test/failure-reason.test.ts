import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHierarchy, startTestServer, type TestServer } from '../../server/test/helpers.js';
import { BwrapExecutor } from '../src/executors/bwrap.js';
import { PodmanExecutor } from '../src/executors/podman.js';
import { addJob, type EngineProcess, engineKey, jobLog, startEngine, waitForJob } from './engines.js';
import { eventually, packGear, tempDir } from './helpers.js';

/**
 * A failed job says why in its failure reason: the gear's last stderr line (else stdout line), not
 * only the exit code. And an engine without podman says so once at start, not in every job's log.
 */
const executor = (await new BwrapExecutor().available()) ? 'bwrap' : 'process';
const hasPodman = await new PodmanExecutor().available();

const gearsDir = tempDir('sprocket-failure-gears-');
function writeGear(name: string, run: string | null, custom?: Record<string, unknown>): void {
  const dir = path.join(gearsDir, name);
  fs.mkdirSync(dir);
  const manifest = {
    name,
    label: name,
    description: `Test gear ${name}`,
    version: '1.0.0',
    author: 'Sprocket tests',
    license: 'MIT',
    url: '',
    source: '',
    config: {},
    inputs: {},
    ...(custom ? { custom } : {}),
  };
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  if (run !== null) fs.writeFileSync(path.join(dir, 'run'), `#!/bin/bash\n${run}\n`, { mode: 0o755 });
}

// The error is coloured and followed by blank lines and a stdout line, as real tools print them.
writeGear(
  'says-why',
  `echo "reading the input"\necho -e "\\e[31mERROR: cannot read input/dicom: no such file\\e[0m" >&2\necho "   " >&2\necho "cleanup done"\nexit 1`,
);
writeGear('stdout-only', `printf 'x%.0s' $(seq 1 1000)\necho\nexit 2`);
writeGear('silent', 'exit 5');
writeGear('image-gear', 'echo fine', { 'gear-builder': { image: 'localhost/sprocket-no-such-image:1' } });
// Its program is only in its image: without podman that is worth saying in the job's log.
writeGear('image-only', null, { 'gear-builder': { image: 'localhost/sprocket-no-such-image:1' } });

describe('failure reasons and executor notes', () => {
  let server: TestServer;
  let engine: EngineProcess;
  let ids: Awaited<ReturnType<typeof makeHierarchy>>;
  const gears: Record<string, string> = {};

  beforeAll(async () => {
    server = await startTestServer();
    ids = await makeHierarchy(server.admin);
    for (const g of ['says-why', 'stdout-only', 'silent', 'image-gear', 'image-only']) {
      const r = await server.admin.upload('/gears', [{ name: `${g}.tar.gz`, content: new Blob([packGear(g, gearsDir)]) }]);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      gears[g] = r.body._id;
    }
    // auto, as `npm start` runs it; without bubblewrap here auto falls back to the process executor.
    engine = startEngine(await engineKey(server.admin), {
      concurrency: 2,
      executor: 'auto',
      env: executor === 'process' ? { SPROCKET_PROCESS_EXECUTOR_AS_ROOT: 'true' } : {},
    });
  });
  afterAll(async () => {
    await engine?.stop();
    await server?.stop();
  });

  const run = async (gear: string) =>
    waitForJob(
      server.admin,
      await addJob(server.admin, { gear_id: gears[gear], destination: { type: 'acquisition', id: ids.acquisition } }),
    );

  it("quotes the gear's last non-empty stderr line, without its colour codes", async () => {
    const job = await run('says-why');
    expect(job.state, engine.output()).toBe('failed');
    expect(job.exit_code).toBe(1);
    expect(job.failure_reason).toBe('the gear exited with code 1: ERROR: cannot read input/dicom: no such file');
    const logs = await jobLog(server.admin, job.id);
    expect(logs.filter((l) => l.fd === -1).map((l) => l.msg)).toContain(
      'The gear exited with code 1: ERROR: cannot read input/dicom: no such file',
    );
  });

  it('falls back to the last stdout line, bounded; a silent gear keeps the bare exit code', async () => {
    const job = await run('stdout-only');
    expect(job.state).toBe('failed');
    const prefix = 'the gear exited with code 2: ';
    expect(job.failure_reason.startsWith(prefix)).toBe(true);
    const quoted = job.failure_reason.slice(prefix.length);
    expect(quoted).toBe(`${'x'.repeat(299)}…`);

    const silent = await run('silent');
    expect(silent.failure_reason).toBe('the gear exited with code 5');
  });

  it('a gear naming a missing image whose own files hold its program runs on the host, and its log says why once', async () => {
    const job = await run('image-gear');
    expect(job.state, engine.output()).toBe('complete');
    const notes = (await jobLog(server.admin, job.id)).filter((l) => l.fd === -1).map((l) => l.msg);
    const said = notes.filter((m) => m.includes('is not available'));
    expect(said, notes.join('\n')).toHaveLength(1);
    expect(said[0]).toContain('container image localhost/sprocket-no-such-image:1 is not available');
    expect(said[0]).toContain("the gear's own files hold its program");
    if (!hasPodman) {
      expect(await eventually(() => engine.output().includes('is not installed here'), 5000), engine.output()).toBe(true);
    }
    expect(
      notes.some((m) => m.includes(`with the ${executor} executor`)),
      notes.join('\n'),
    ).toBe(true);
  });

  it('a gear whose program lives only in its missing image fails with a reason naming the image and the way out', async () => {
    const job = await run('image-only');
    expect(job.state).toBe('failed');
    expect(job.failure_reason).toContain(
      "the gear's program ./run lives only in its container image localhost/sprocket-no-such-image:1, which is not available",
    );
    expect(job.failure_reason).toContain('sprocket gear upload --image');
    expect(job.failure_reason).toContain('podman load -i');
    expect(job.exit_code ?? null).toBeNull();
  });
});
