import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandWorks, tempDir } from './helpers.js';

/** Test images for the container executors, built offline from the host's own binaries (no registry). */

export const PODMAN = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];
export const hasPodman = commandWorks(['podman', '--version']) && commandWorks(['runc', '--version']);
export const hasCharliecloud = commandWorks(['env', 'USER=probe', 'ch-run', '--version']) && commandWorks(['unshare', '--version']);

/** A gear program that lives only in the image: it says where it runs and writes an output. */
export const IMAGE_RUN = `#!/bin/bash
echo "image program running as $(id -u) in $PWD"
echo "from the image" > output/made-in-image.txt
cat config.json > output/config-copy.json
`;

function libsOf(file: string): string[] {
  return spawnSync('ldd', [file], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => /(\/\S+) \(0x/.exec(l)?.[1])
    .filter((p): p is string => !!p);
}

/**
 * A root filesystem with bash, busybox (sh, cat, ls …), coreutils' sleep and their libraries, and
 * /flywheel/v0/run (IMAGE_RUN): enough for the test gears. About 3 MB.
 */
export function buildRootfs(): string {
  const root = tempDir('sprocket-rootfs-');
  const bins = ['/usr/bin/bash', '/usr/bin/busybox', '/usr/bin/sleep'];
  for (const file of new Set([...bins, ...bins.flatMap(libsOf)])) {
    fs.mkdirSync(path.join(root, path.dirname(file)), { recursive: true });
    fs.copyFileSync(fs.realpathSync(file), path.join(root, file));
    fs.chmodSync(path.join(root, file), 0o755);
  }
  // coreutils' sleep, not busybox's: busybox picks the applet from argv[0], which the slow gear renames.
  for (const tool of ['sh', 'cat', 'cp', 'find', 'mkdir', 'ls', 'sort', 'touch', 'wc', 'pwd', 'id', 'head']) {
    fs.symlinkSync('busybox', path.join(root, 'usr/bin', tool));
  }
  for (const dir of ['tmp', 'etc', 'proc', 'dev', 'sys', 'home', 'flywheel/v0']) fs.mkdirSync(path.join(root, dir), { recursive: true });
  fs.chmodSync(path.join(root, 'tmp'), 0o1777);
  for (const link of ['bin', 'lib', 'lib64']) {
    if (!fs.existsSync(path.join(root, link)) && fs.existsSync(path.join(root, 'usr', link)))
      fs.symlinkSync(`usr/${link}`, path.join(root, link));
  }
  fs.writeFileSync(path.join(root, 'flywheel/v0/run'), IMAGE_RUN, { mode: 0o755 });
  spawnSync('chmod', ['-R', 'a+rX', root]);
  return root;
}

/** Imports the test rootfs into podman as `image` unless podman has it already (built once per run). */
export function ensurePodmanImage(image: string): void {
  if (spawnSync('podman', [...PODMAN, 'image', 'exists', image]).status === 0) return;
  const root = buildRootfs();
  const tar = spawnSync('tar', ['-C', root, '-c', '.'], { maxBuffer: 256 * 1024 * 1024 });
  const imported = spawnSync('podman', [...PODMAN, 'import', '-', image], { input: tar.stdout });
  fs.rmSync(root, { recursive: true, force: true });
  if (imported.status !== 0) throw new Error(`podman import failed: ${imported.stderr}`);
}

/** `podman save` of `image` as a docker-archive (what `sprocket gear upload --image` sends). */
export function savePodmanImage(image: string, dest: string): void {
  const saved = spawnSync('podman', [...PODMAN, 'save', '--format', 'docker-archive', '-o', dest, image]);
  if (saved.status !== 0) throw new Error(`podman save failed: ${saved.stderr}`);
}

export function removePodmanImage(image: string): void {
  spawnSync('podman', [...PODMAN, 'rmi', '--force', image]);
}

/** A charliecloud store shared by the tests of one machine, its test image made once. */
export const CH_STORE = path.join(os.tmpdir(), 'sprocket-test-ch-images');

export function ensureChImage(dirName: string): string {
  const dest = path.join(CH_STORE, dirName);
  if (fs.existsSync(path.join(dest, 'flywheel/v0/run'))) return dest;
  fs.mkdirSync(CH_STORE, { recursive: true, mode: 0o755 });
  const root = buildRootfs();
  fs.chmodSync(root, 0o755);
  if (fs.existsSync(path.join(dest, 'flywheel/v0/run'))) {
    fs.rmSync(root, { recursive: true, force: true });
    return dest;
  }
  fs.rmSync(dest, { recursive: true, force: true }); // a stale, incomplete one
  try {
    fs.renameSync(root, dest);
  } catch (err) {
    // Another test file running at the same time got there first: its image is as good.
    fs.rmSync(root, { recursive: true, force: true });
    if (!fs.existsSync(path.join(dest, 'flywheel/v0/run'))) throw err;
  }
  return dest;
}
