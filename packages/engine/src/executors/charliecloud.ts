import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONFIG_JSON, GEAR_BASE, INPUT_DIR_NAME } from '@sprocket/types';
import type { Executor, RunIO, RunResult, RunSpec } from './executor.js';
import { folders } from './image-archive.js';
import { gearLimits, isRoot } from './limits.js';
import { succeeds } from './probe.js';
import { handOver, runConfined } from './spawn.js';

/** Where the gear's mount namespace puts the job and the image: a tmpfs of its own over /mnt. */
const STAGE = '/mnt';

/** The charliecloud image store: one directory image per name (SPROCKET_CH_IMAGES). */
export function chImagesDir(workDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.SPROCKET_CH_IMAGES || path.join(workDir, 'ch-images'));
}

/** `localhost/fw-gear:1.0` → `localhost%fw-gear+1.0`, ch-image's own spelling of names as folders. */
export function chImageName(image: string): string {
  const name = image.replace(/\//g, '%').replace(/:/g, '+');
  if (!/^[A-Za-z0-9._%+@-]+$/.test(name) || name.startsWith('.'))
    throw new Error(`container image name ${JSON.stringify(image)} cannot name a charliecloud image folder`);
  return name;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The command line for a job. ch-run itself offers no network or pid namespace and binds read-write
 * only, so it runs inside `unshare`: a pid namespace (a cancel ends everything the gear started,
 * setsid or not), no network unless the gear asks, and a mount namespace where the job folder and
 * the image are bound below a private /mnt, input/ and config.json read-only. As root the mounts are
 * made as root and then the gear becomes the site's gear user (setpriv) before ch-run; otherwise a
 * user namespace over the engine's own user allows the mounts. Exported for wrapping (Slurm).
 */
export function chRunArgs(spec: RunSpec, imageDir: string): string[] {
  const job = `${STAGE}/job`;
  const img = `${STAGE}/image`;
  const script = [
    `mount -t tmpfs -o mode=0755 sprocket ${STAGE}`,
    `mkdir ${job} ${img}`,
    `mount --rbind ${q(spec.jobDir)} ${job}`,
    `mount --rbind ${q(imageDir)} ${img}`,
  ];
  for (const ro of [INPUT_DIR_NAME, CONFIG_JSON]) {
    if (!fs.existsSync(path.join(spec.jobDir, ro))) continue;
    script.push(`mount --bind ${job}/${ro} ${job}/${ro}`, `mount -o remount,bind,ro ${job}/${ro}`);
  }
  script.push('exec "$@"');
  const unshare = ['/usr/bin/unshare', '--mount', '--pid', '--fork', '--kill-child', '--mount-proc', '--ipc', '--uts'];
  if (!isRoot()) unshare.splice(1, 0, '--user', '--map-root-user');
  if (!spec.networking) unshare.push('--net');
  const owner = isRoot() ? gearLimits() : undefined;
  const become = owner
    ? [
        '/usr/bin/setpriv',
        `--reuid=${owner.uid}`,
        `--regid=${owner.gid}`,
        '--clear-groups',
        '--inh-caps=-all',
        '--bounding-set=-all',
        '--no-new-privs',
        '--',
      ]
    : [];
  const chRun = ['ch-run', '--no-passwd', '--private-tmp', '-b', `${job}:${GEAR_BASE}`, '-c', GEAR_BASE];
  if (spec.uid !== undefined) chRun.push('-u', String(spec.uid), '-g', String(spec.gid ?? spec.uid));
  chRun.push(img, '--', ...spec.command);
  return [...unshare, '--', '/bin/sh', '-c', script.join(' && '), 'sh', ...become, ...chRun];
}

/** The gear's environment for ch-run, which passes its own on: nothing of the engine's leaks in. */
function gearEnv(spec: RunSpec): Record<string, string> {
  return { ...spec.env, FLYWHEEL: GEAR_BASE, USER: process.env.USER || os.userInfo().username || 'sprocket' };
}

/**
 * Copies what the image keeps in /flywheel/v0 into the job folder (the uploaded gear files win),
 * since the job folder is bound over that path: a gear whose program lives only in its image
 * finds it where the spec says.
 */
async function adoptImageGearFiles(imageDir: string, jobDir: string): Promise<void> {
  const base = path.join(imageDir, GEAR_BASE);
  let names: string[];
  try {
    names = await fs.promises.readdir(base);
  } catch {
    return;
  }
  for (const name of names) {
    const dest = path.join(jobDir, name);
    if (await fs.promises.lstat(dest).catch(() => undefined)) continue;
    await fs.promises.cp(path.join(base, name), dest, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  }
}

/**
 * Charliecloud (`ch-run`), the HPC choice where podman is missing: gears naming an image that is a
 * directory image in the store (SPROCKET_CH_IMAGES). Never host root, its own pid namespace, no
 * network unless asked, the job folder at /flywheel/v0 and the site's limits, like the others.
 */
export class CharliecloudExecutor implements Executor {
  readonly name = 'charliecloud';
  private probe?: Promise<boolean>;

  constructor(readonly imagesDir: string) {}

  available(): Promise<boolean> {
    this.probe ??= (async () =>
      (await succeeds(['env', 'USER=probe', 'ch-run', '--version'])) && (await succeeds(['unshare', '--version'])))();
    return this.probe;
  }

  imageDir(image: string): string {
    return path.join(this.imagesDir, chImageName(image));
  }

  async hasImage(image: string): Promise<boolean> {
    try {
      return fs.readdirSync(this.imageDir(image)).length > 0;
    } catch {
      return false;
    }
  }

  async run(spec: RunSpec, io: RunIO, signal: AbortSignal): Promise<RunResult> {
    if (!spec.image) throw new Error('the charliecloud executor needs a gear that names a container image');
    const imageDir = this.imageDir(spec.image);
    if (!(await this.hasImage(spec.image)))
      throw new Error(`container image ${spec.image} is not in the charliecloud image store (no folder ${imageDir})`);
    // ch-run binds the job here, and a bind target must exist in the image: made in the engine's own
    // store, never through a link the image holds.
    await folders(imageDir, GEAR_BASE.split('/').filter(Boolean), GEAR_BASE);
    await adoptImageGearFiles(imageDir, spec.jobDir);
    await handOver(spec.jobDir, isRoot() ? { uid: gearLimits().uid, gid: gearLimits().gid } : undefined);
    return runConfined(spec, chRunArgs(spec, imageDir), { cwd: spec.jobDir, env: gearEnv(spec) }, io, signal);
  }
}
