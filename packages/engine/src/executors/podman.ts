import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_JSON, GEAR_BASE, INPUT_DIR_NAME } from '@sprocket/types';
import { parseMemory } from '../resources.js';
import { type Executor, KILL_GRACE_MS, type RunIO, type RunResult, type RunSpec } from './executor.js';
import { gearLimits, isRoot } from './limits.js';
import { succeeds } from './probe.js';
import { handOver, runProcessGroup } from './spawn.js';

/**
 * Settings that make podman work on these hosts (cgroups v1 hybrid, no systemd): crun cannot run
 * here, runc needs cgroupfs, and the default rlimits cannot be applied, so they are set explicitly.
 */
export const PODMAN_GLOBAL = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];
const LIMITS = ['--ulimit', 'nofile=1024:1024'];

/**
 * RLIMIT_NPROC for the container: podman's default is above what an unprivileged-in-its-container
 * engine may set (runc: "error setting rlimit type 6"; here anything past about 20000 failed), so
 * it is the engine's own hard limit, at most 16384. It counts every process of the container's host
 * uid across gears; --pids-limit is the bound per gear.
 */
function nprocLimit(): number {
  let hard = 16_384;
  try {
    const line = /^Max processes\s+\S+\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (line && line[1] !== 'unlimited') hard = Math.min(hard, Number(line[1]));
  } catch {
    // not Linux: podman's default stands
  }
  return hard;
}
/** Host uids a rootful podman maps the container's 0–65535 onto (SPROCKET_PODMAN_UID_BASE). */
export const DEFAULT_PODMAN_UID_BASE = 524_288;
const ID_RANGE = 65_536;

export function podmanUidBase(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SPROCKET_PODMAN_UID_BASE;
  if (raw === undefined || raw === '') return DEFAULT_PODMAN_UID_BASE;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < ID_RANGE)
    throw new Error(`SPROCKET_PODMAN_UID_BASE must be an integer of at least ${ID_RANGE}, got ${JSON.stringify(raw)}`);
  return n;
}

/** Where the container's user lands on the host when podman runs as root: never host root. */
function podmanOwner(spec: Pick<RunSpec, 'uid' | 'gid'>): { uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined; // rootless podman maps through the engine user's own subuids
  const base = podmanUidBase();
  return { uid: base + (spec.uid ?? 0), gid: base + (spec.gid ?? spec.uid ?? 0) };
}
const READ_ONLY_ENTRIES = new Set([INPUT_DIR_NAME, CONFIG_JSON]);

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
  const limits = gearLimits();
  const args = ['podman', ...PODMAN_GLOBAL, 'run', '--rm', '--name', containerName(spec.jobId), ...LIMITS];
  args.push(
    '--pids-limit',
    String(limits.maxProcesses),
    '--ulimit',
    `nproc=${nprocLimit()}:${nprocLimit()}`,
    '--ulimit',
    `fsize=${limits.diskBytes}:${limits.diskBytes}`,
    '--security-opt',
    'no-new-privileges',
  );
  if (isRoot()) {
    // Rootful podman would run the container's root as host root: map the container's ids onto an
    // unprivileged host range instead, and run as the manifest's user (root of the container by default).
    const base = podmanUidBase();
    args.push(
      '--uidmap',
      `0:${base}:${ID_RANGE}`,
      '--gidmap',
      `0:${base}:${ID_RANGE}`,
      '--user',
      `${spec.uid ?? 0}:${spec.gid ?? spec.uid ?? 0}`,
    );
  } else if (spec.uid !== undefined) args.push('--user', `${spec.uid}:${spec.gid ?? spec.uid}`);
  if (!spec.networking) args.push('--network', 'none');
  const bytes = spec.resources.memory ? parseMemory(spec.resources.memory) : undefined;
  if (bytes) args.push('--memory', String(bytes));
  if (spec.resources.cpu && spec.resources.cpu > 0) args.push('--cpus', String(spec.resources.cpu));
  for (const entry of fs.readdirSync(spec.jobDir, { withFileTypes: true })) {
    if (entry.isSymbolicLink()) continue; // a link to a sibling resolves inside the container's own tree
    const ro = READ_ONLY_ENTRIES.has(entry.name) ? ':ro' : '';
    args.push('-v', `${path.join(spec.jobDir, entry.name)}:${GEAR_BASE}/${entry.name}${ro}`);
  }
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
    await handOver(spec.jobDir, podmanOwner(spec));
    try {
      return await runProcessGroup(
        podmanRunArgs(spec),
        { cwd: spec.jobDir, env: { ...process.env } as Record<string, string> },
        io,
        inner.signal,
      );
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }
}
