import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chImageName } from '../../engine/src/executors/charliecloud.js';
import {
  CH_STORE,
  ensureChImage,
  ensurePodmanImage,
  hasCharliecloud,
  hasPodman,
  PODMAN,
  removePodmanImage,
  savePodmanImage,
} from '../../engine/test/containers.js';
import { type EngineProcess, engineKey, jobLog, startEngine, waitForJob } from '../../engine/test/engines.js';
import { makeHierarchy } from '../../server/test/helpers.js';
import { Cli, startTestServer, type TestServer, tempDir } from './helpers.js';

/**
 * Container gears end to end: a gear whose program lives only in its image (built offline from the
 * host's binaries), uploaded with the CLI, run by a real engine under podman and under charliecloud,
 * the image itself uploaded with the gear (`sprocket gear upload --image`), and the clear failure
 * when the image is nowhere.
 */
if (!hasPodman || !hasCharliecloud)
  console.warn('podman (with runc) and charliecloud (ch-run) are needed (npm run setup installs them): container gear tests skipped');

const run = `${process.pid}-${Date.now().toString(36)}`;
const BASE = 'localhost/sprocket-test-ctr:1';

/** A gear folder without its program: manifest.json alone, naming `image`. */
function imageOnlyGear(name: string, version: string, image: string): string {
  const dir = tempDir('sprocket-ctr-gear-');
  const manifest = {
    name,
    label: name,
    description: 'Its program is only in its container image',
    version,
    author: 'Sprocket tests',
    license: 'MIT',
    url: '',
    source: '',
    config: {},
    inputs: {},
    custom: { 'gear-builder': { image, category: 'utility' } },
  };
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

/** A docker-archive with the given manifest.json and members, for the refusals. */
async function fakeArchive(file: string, manifest: unknown, members: Record<string, string> = {}): Promise<void> {
  const pack = tar.pack();
  const done = new Promise<void>((resolve, reject) => {
    const out = fs.createWriteStream(file);
    pack.pipe(out);
    out.on('finish', () => resolve());
    out.on('error', reject);
  });
  pack.entry({ name: 'manifest.json' }, JSON.stringify(manifest));
  for (const [name, content] of Object.entries(members)) pack.entry({ name }, content);
  pack.finalize();
  await done;
}

describe.skipIf(!hasPodman || !hasCharliecloud)('container gears through server, CLI and engine', () => {
  let s: TestServer;
  let cli: Cli;
  let acquisition: string;
  const engines: EngineProcess[] = [];

  beforeAll(async () => {
    ensurePodmanImage(BASE);
    ensureChImage(chImageName(BASE));
    s = await startTestServer({ env: { SPROCKET_GEAR_IMAGE_MAX_BYTES: String(64 * 1024 * 1024) } });
    acquisition = (await makeHierarchy(s.admin)).acquisition;
    cli = new Cli();
    await cli.login(s.admin.key!);
  }, 120_000);
  afterAll(async () => {
    for (const e of engines) await e.stop();
    await s?.stop();
  });

  /** Uploads the gear with the CLI, runs one job on a fresh engine, stops the engine, returns the job. */
  async function runOn(gearDir: string, executor: string, env: Record<string, string> = {}, uploadArgs: string[] = []) {
    const out = await cli.ok(['gear', 'upload', gearDir, ...uploadArgs]);
    const gearId = /id ([0-9a-f]{24})/.exec(out)?.[1];
    expect(gearId, out).toBeDefined();
    const engine = startEngine(await engineKey(s.admin, `ctr ${executor}`), { concurrency: 1, executor, env });
    engines.push(engine);
    try {
      const added = await s.admin.post('/jobs/add', { gear_id: gearId, destination: { type: 'acquisition', id: acquisition } });
      expect(added.status, JSON.stringify(added.body)).toBe(200);
      const job = await waitForJob(s.admin, added.body._id, undefined, 90_000);
      return { job, out, engine, logs: await jobLog(s.admin, job.id) };
    } finally {
      await engine.stop();
    }
  }

  async function outputOf(jobId: string, name: string): Promise<string> {
    const job = (await s.admin.get(`/jobs/${jobId}`)).body;
    expect(job.saved_files ?? job.outputs ?? []).toBeDefined();
    const acq = (await s.admin.get(`/acquisitions/${acquisition}`)).body;
    const file = acq.files.find((f: { name: string }) => f.name === name);
    expect(file, `${name} among ${acq.files.map((f: { name: string }) => f.name).join(', ')}`).toBeDefined();
    return (await s.admin.bytes(`/acquisitions/${acquisition}/files/${name}`)).data.toString();
  }

  it('runs a gear whose program lives only in its image under podman', async () => {
    const { job, logs, engine } = await runOn(imageOnlyGear('ctr-podman', '1.0.0', BASE), 'podman');
    expect(job.state, `${engine.output()}\n${logs.map((l) => l.msg).join('')}`).toBe('complete');
    expect(logs.map((l) => l.msg).join('')).toContain('with the podman executor');
    expect(logs.map((l) => l.msg).join('')).toContain('image program running as 0 in /flywheel/v0');
    expect(await outputOf(job.id, 'made-in-image.txt')).toBe('from the image\n');
  });

  it('runs it under charliecloud from the directory image store', async () => {
    const { job, logs, engine } = await runOn(imageOnlyGear('ctr-ch', '1.0.0', BASE), 'charliecloud', { SPROCKET_CH_IMAGES: CH_STORE });
    expect(job.state, `${engine.output()}\n${logs.map((l) => l.msg).join('')}`).toBe('complete');
    expect(logs.map((l) => l.msg).join('')).toContain('with the charliecloud executor');
    expect(logs.map((l) => l.msg).join('')).toContain('image program running as');
  });

  it('gear upload --image: podman save → upload → the engine loads it into podman → the job completes', async () => {
    const image = `localhost/sprocket-test-upload-${run}:1`;
    expect(spawnSync('podman', [...PODMAN, 'tag', BASE, image]).status).toBe(0);
    const archive = path.join(tempDir(), 'gear-image.tar');
    savePodmanImage(image, archive);
    removePodmanImage(image);
    expect(spawnSync('podman', [...PODMAN, 'image', 'exists', image]).status).not.toBe(0);
    try {
      const { job, logs, out, engine } = await runOn(imageOnlyGear('ctr-upload', '1.0.0', image), 'auto', {}, ['--image', archive]);
      expect(out).toContain(`with image ${image}`);
      expect(job.state, `${engine.output()}\n${logs.map((l) => l.msg).join('')}`).toBe('complete');
      expect(logs.map((l) => l.msg).join('')).toContain('with the podman executor');
      expect(spawnSync('podman', [...PODMAN, 'image', 'exists', image]).status).toBe(0);
      expect(await outputOf(job.id, 'made-in-image.txt')).toBe('from the image\n');
    } finally {
      removePodmanImage(image);
    }
  });

  it('gear upload --image with a gzipped archive: the charliecloud engine unpacks it into its store', async () => {
    const image = `localhost/sprocket-test-upload-ch-${run}:1`;
    expect(spawnSync('podman', [...PODMAN, 'tag', BASE, image]).status).toBe(0);
    const plain = path.join(tempDir(), 'gear-image.tar');
    savePodmanImage(image, plain);
    removePodmanImage(image);
    const archive = `${plain}.gz`;
    fs.writeFileSync(archive, gzipSync(fs.readFileSync(plain)));
    const store = tempDir('sprocket-ctr-store-');
    const { job, logs, engine } = await runOn(
      imageOnlyGear('ctr-upload-ch', '1.0.0', image),
      'charliecloud',
      { SPROCKET_CH_IMAGES: store },
      ['--image', archive],
    );
    expect(job.state, `${engine.output()}\n${logs.map((l) => l.msg).join('')}`).toBe('complete');
    expect(logs.map((l) => l.msg).join('')).toContain('with the charliecloud executor');
    expect(fs.existsSync(path.join(store, chImageName(image), 'flywheel/v0/run'))).toBe(true);
  });

  it('a gear whose program lives only in a missing image fails, naming the image and what to do', async () => {
    const image = `localhost/sprocket-test-missing-${run}:1`;
    const { job } = await runOn(imageOnlyGear('ctr-missing', '1.0.0', image), 'auto');
    expect(job.state).toBe('failed');
    expect(job.failure_reason).toContain(
      `the gear's program ./run lives only in its container image ${image}, which is not available to podman or charliecloud`,
    );
    expect(job.failure_reason).toContain('sprocket gear upload --image');
  });

  it('refuses an image archive that is not one, provides another image, or is too large', async () => {
    const dir = imageOnlyGear('ctr-refused', '1.0.0', BASE);
    const notTar = path.join(tempDir(), 'not.tar');
    fs.writeFileSync(notTar, 'this is no tar archive at all'.repeat(40));
    expect(await cli.fails(['gear', 'upload', dir, '--image', notTar])).toMatch(
      /image: the image archive (has no manifest\.json|is not a tar)/,
    );

    const other = path.join(tempDir(), 'other.tar');
    await fakeArchive(other, [{ Config: 'c.json', RepoTags: ['localhost/other:2'], Layers: ['l/layer.tar'] }], {
      'c.json': '{}',
      'l/layer.tar': '',
    });
    expect(await cli.fails(['gear', 'upload', dir, '--image', other])).toContain(
      `image: the archive provides localhost/other:2, but manifest.json names ${BASE} (custom.gear-builder.image)`,
    );

    const lacking = path.join(tempDir(), 'lacking.tar');
    await fakeArchive(lacking, [{ Config: 'c.json', RepoTags: [BASE], Layers: ['../../etc/passwd'] }], { 'c.json': '{}' });
    expect(await cli.fails(['gear', 'upload', dir, '--image', lacking])).toContain("has a '..' in its path");

    const big = path.join(tempDir(), 'big.tar');
    await fakeArchive(big, [{ Config: 'c.json', RepoTags: [BASE], Layers: ['l.tar'] }], {
      'c.json': '{}',
      'l.tar': 'x'.repeat(65 * 1024 * 1024),
    });
    const tooLarge = await cli.run(['gear', 'upload', dir, '--image', big]);
    expect(tooLarge.code).not.toBe(0);
    expect(tooLarge.stderr).toContain('larger than 67108864 bytes (SPROCKET_GEAR_IMAGE_MAX_BYTES)');

    // None of these left a gear behind.
    const gears = (await s.admin.get('/gears?filter=gear.name=ctr-refused')).body;
    expect(gears).toEqual([]);
  }, 60_000);
});
