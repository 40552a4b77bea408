import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseMemory } from '../resources.js';
import { type Executor, GEAR_BASE, KILL_GRACE_MS, type RunIO, type RunResult, type RunSpec } from './executor.js';
import { succeeds } from './probe.js';
import { handOver, runProcessGroup } from './spawn.js';

/**
 * Settings that make podman work on these hosts (cgroups v1 hybrid, no systemd): crun cannot run
 * here, runc needs cgroupfs, and the default rlimits cannot be applied, so they are set explicitly.
 */
const PODMAN_GLOBAL = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];
const LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
const READ_ONLY_ENTRIES = new Set(['input', 'config.json']);

export function containerName(jobId: string): string {
  return `sprocket-job-${jobId.replace(/[^a-zA-Z0-9_.-]/g, '_')}`;
}

/**
 * `podman run` for a job. Each job-directory entry is mounted over /flywheel/v0 in the image, so the
 * image keeps whatever else it has there and the uploaded gear files win where both exist. Exported
 * for executors that wrap this command (a Slurm batch script, for one).
 */
export function podmanRunArgs(spec: RunSpec): string[] {
  if (!spec.image) throw new Error('the podman executor needs a gear that names a container image');
  const args = ['podman', ...PODMAN_GLOBAL, 'run', '--rm', '--name', containerName(spec.jobId), ...LIMITS];
  if (!spec.networking) args.push('--network', 'none');
  const bytes = spec.resources.memory ? parseMemory(spec.resources.memory) : undefined;
  if (bytes) args.push('--memory', String(bytes));
  if (spec.resources.cpu && spec.resources.cpu > 0) args.push('--cpus', String(spec.resources.cpu));
  for (const entry of fs.readdirSync(spec.jobDir, { withFileTypes: true })) {
    if (entry.isSymbolicLink()) continue; // a link to a sibling resolves inside the container's own tree
    const ro = READ_ONLY_ENTRIES.has(entry.name) ? ':ro' : '';
    args.push('-v', `${path.join(spec.jobDir, entry.name)}:${GEAR_BASE}/${entry.name}${ro}`);
  }
  if (spec.uid !== undefined) args.push('--user', `${spec.uid}:${spec.gid ?? spec.uid}`);
  args.push('-w', GEAR_BASE);
  for (const [k, v] of Object.entries({ ...spec.env, FLYWHEEL: GEAR_BASE })) args.push('--env', `${k}=${v}`);
  args.push('--entrypoint', '[]', spec.image, ...spec.command);
  return args;
}

function podman(args: string[]): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('podman', [...PODMAN_GLOBAL, ...args], { stdio: 'ignore' });
    child.on('error', () => resolve());
    child.on('exit', () => resolve());
  });
}

/** Podman, for gears naming an image that is present locally (nothing is pulled). */
export class PodmanExecutor implements Executor {
  readonly name = 'podman';
  private probe?: Promise<boolean>;

  available(): Promise<boolean> {
    this.probe ??= (async () => (await succeeds(['podman', '--version'])) && (await succeeds(['runc', '--version'])))();
    return this.probe;
  }

  hasImage(image: string): Promise<boolean> {
    return succeeds(['podman', ...PODMAN_GLOBAL, 'image', 'exists', image]);
  }

  async run(spec: RunSpec, io: RunIO, signal: AbortSignal): Promise<RunResult> {
    const name = containerName(spec.jobId);
    // The container belongs to conmon, not to the podman client: killing the client would leave it
    // running, so a cancel goes through podman itself.
    const inner = new AbortController();
    const stop = () => {
      void podman(['stop', '--time', String(Math.ceil(KILL_GRACE_MS / 1000)), name]).then(() => {
        void podman(['rm', '--force', '--time', '0', name]);
        inner.abort();
      });
    };
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) stop();
    await handOver(spec);
    try {
      return await runProcessGroup(podmanRunArgs(spec), { cwd: spec.jobDir, env: { ...process.env } as Record<string, string> }, io, inner.signal);
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }
}
