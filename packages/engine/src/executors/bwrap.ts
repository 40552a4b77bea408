import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_JSON, GEAR_BASE, INPUT_DIR_NAME } from '@sprocket/types';
import type { Executor, RunIO, RunResult, RunSpec } from './executor.js';
import { gearLimits, isRoot } from './limits.js';
import { succeeds } from './probe.js';
import { handOver, runConfined } from './spawn.js';

/** Top-level host folders that are symlinks into /usr on merged-/usr systems and real folders elsewhere. */
const ROOT_LINKS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
/** Job-directory entries the gear must not change: what it was given. */
const READ_ONLY_ENTRIES = new Set([INPUT_DIR_NAME, CONFIG_JSON]);
/** Host secrets under /etc no gear has business reading. */
const ETC_SECRETS = [
  '/etc/shadow',
  '/etc/shadow-',
  '/etc/gshadow',
  '/etc/gshadow-',
  '/etc/sudoers',
  '/etc/sudoers.d',
  '/etc/ssl/private',
  '/etc/security/opasswd',
];
/** Every namespace but the user namespace: as root, bwrap's own user namespace would map the gear to host root. */
const UNSHARE_BUT_USER = ['--unshare-ipc', '--unshare-pid', '--unshare-net', '--unshare-uts', '--unshare-cgroup-try'];

let hostSystem: string[] | undefined;

/** The host's system folders as the sandbox sees them; they do not change while the engine runs. */
function hostSystemArgs(): string[] {
  hostSystem ??= readHostSystem();
  return hostSystem;
}

function readHostSystem(): string[] {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const dir of ROOT_LINKS) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(dir);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push('--symlink', fs.readlinkSync(dir), dir);
    else if (st.isDirectory()) args.push('--ro-bind', dir, dir);
  }
  args.push('--ro-bind', '/etc', '/etc');
  // Unreadable to the gear's uid already; masked too, so a mistaken mode on the host exposes nothing.
  let hostKeys: string[] = [];
  try {
    hostKeys = fs
      .readdirSync('/etc/ssh')
      .filter((f) => /^ssh_host_.*_key$/.test(f))
      .map((f) => `/etc/ssh/${f}`);
  } catch {
    // no ssh server here
  }
  for (const secret of [...ETC_SECRETS, ...hostKeys]) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(secret);
    } catch {
      continue;
    }
    if (st.isDirectory()) args.push('--tmpfs', secret, '--remount-ro', secret);
    else if (st.isFile()) args.push('--ro-bind', '/dev/null', secret);
  }
  // Software installed outside the package manager (FSL, FreeSurfer …) conventionally lives in /opt.
  if (fs.existsSync('/opt')) args.push('--ro-bind', '/opt', '/opt');
  // /proc/sys holds host kernel settings: read-only whoever the gear is. /tmp is the gear's own.
  args.push('--proc', '/proc', '--ro-bind', '/proc/sys', '/proc/sys', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/tmp');
  return args;
}

/** The host user a gear runs as: the site's gear user when the engine is root, else the engine's own (undefined). */
export function gearOwner(_spec?: Pick<RunSpec, 'uid' | 'gid'>): { uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined;
  const { uid, gid } = gearLimits();
  return { uid, gid };
}

/**
 * The bwrap command line for a job. /flywheel/v0 is a tmpfs with each job-directory entry bound onto
 * it: binding the directory itself read-only and then the writable pieces under it fails ("Can't
 * mkdir … Read-only file system"), and the tmpfs keeps anything the gear drops at the top level out
 * of the host. Exported for executors that wrap this sandbox (a Slurm batch script, for one).
 */
export function bwrapArgs(spec: RunSpec): string[] {
  const args = ['bwrap', ...hostSystemArgs(), '--tmpfs', GEAR_BASE];
  for (const entry of fs.readdirSync(spec.jobDir, { withFileTypes: true })) {
    const host = path.join(spec.jobDir, entry.name);
    const inside = `${GEAR_BASE}/${entry.name}`;
    // Layout has already refused links that leave the gear; recreating them keeps relative ones working.
    if (entry.isSymbolicLink()) args.push('--symlink', fs.readlinkSync(host), inside);
    else args.push(READ_ONLY_ENTRIES.has(entry.name) ? '--ro-bind' : '--bind', host, inside);
  }
  args.push('--chdir', GEAR_BASE);
  const owner = gearOwner(spec);
  let command = spec.command;
  if (owner) {
    // The engine is root. bwrap makes the mounts as root, then the gear becomes the site's gear
    // user on the host (setpriv: no groups, no capabilities, no new privileges). A manifest's
    // uid/gid is what the gear sees inside a user namespace of its own over that host user.
    args.push(...UNSHARE_BUT_USER, '--cap-drop', 'ALL', '--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID');
    const inner =
      spec.uid !== undefined && (spec.uid !== owner.uid || (spec.gid ?? spec.uid) !== owner.gid)
        ? ['/usr/bin/unshare', '--user', `--map-user=${spec.uid}`, `--map-group=${spec.gid ?? spec.uid}`, '--']
        : [];
    command = [
      '/usr/bin/setpriv',
      `--reuid=${owner.uid}`,
      `--regid=${owner.gid}`,
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--no-new-privs',
      '--',
      ...inner,
      ...command,
    ];
  } else {
    // Not root: bwrap's user namespace maps the gear onto the engine's own unprivileged user.
    args.push('--unshare-all');
    if (spec.uid !== undefined) args.push('--unshare-user', '--uid', String(spec.uid), '--gid', String(spec.gid ?? spec.uid));
    args.push('--cap-drop', 'ALL');
  }
  if (spec.networking) args.push('--share-net');
  args.push('--die-with-parent', '--clearenv');
  for (const [k, v] of Object.entries({ ...spec.env, FLYWHEEL: GEAR_BASE })) args.push('--setenv', k, v);
  args.push('--', ...command);
  return args;
}

/**
 * Bubblewrap: the job directory at /flywheel/v0, the host's /usr, /etc (secrets masked) and /opt
 * read-only, /proc/sys read-only, private /tmp, no network unless the gear asks for `networking`,
 * no capabilities, never host root (the site's gear user when the engine is root), its own pid
 * namespace (so nothing escapes a cancel), within the site's limits, and it dies with the engine.
 */
export class BwrapExecutor implements Executor {
  readonly name = 'bwrap';
  private probe?: Promise<boolean>;

  available(): Promise<boolean> {
    // Installed is not enough: containers often forbid the namespaces bwrap needs.
    this.probe ??= succeeds(['bwrap', '--ro-bind', '/', '/', '--unshare-all', '--die-with-parent', '--', 'true']);
    return this.probe;
  }

  async run(spec: RunSpec, io: RunIO, signal: AbortSignal): Promise<RunResult> {
    await handOver(spec.jobDir, gearOwner(spec));
    return runConfined(spec, bwrapArgs(spec), { cwd: spec.jobDir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }, io, signal);
  }
}
