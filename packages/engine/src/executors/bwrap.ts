import fs from 'node:fs';
import path from 'node:path';
import { type Executor, GEAR_BASE, type RunIO, type RunResult, type RunSpec } from './executor.js';
import { succeeds } from './probe.js';
import { runProcessGroup } from './spawn.js';

/** Top-level host folders that are symlinks into /usr on merged-/usr systems and real folders elsewhere. */
const ROOT_LINKS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
/** Job-directory entries the gear must not change: what it was given. */
const READ_ONLY_ENTRIES = new Set(['input', 'config.json']);

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
  // Software installed outside the package manager (FSL, FreeSurfer …) conventionally lives in /opt.
  if (fs.existsSync('/opt')) args.push('--ro-bind', '/opt', '/opt');
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  return args;
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
  args.push('--chdir', GEAR_BASE, '--unshare-all');
  if (spec.networking) args.push('--share-net');
  // The gear's user exists only inside the sandbox's user namespace; its files are the engine's outside.
  if (spec.uid !== undefined) args.push('--unshare-user', '--uid', String(spec.uid), '--gid', String(spec.gid ?? spec.uid));
  // Root keeps every capability in the sandbox unless told otherwise, enough to undo the read-only mounts.
  args.push('--cap-drop', 'ALL', '--die-with-parent', '--clearenv');
  for (const [k, v] of Object.entries({ ...spec.env, FLYWHEEL: GEAR_BASE })) args.push('--setenv', k, v);
  args.push('--', ...spec.command);
  return args;
}

/**
 * Bubblewrap: the job directory at /flywheel/v0, the host's /usr and /etc read-only, private /tmp,
 * no network unless the gear asks for `networking`, no capabilities, its own pid namespace (so
 * nothing escapes a cancel), and it dies with the engine.
 */
export class BwrapExecutor implements Executor {
  readonly name = 'bwrap';
  private probe?: Promise<boolean>;

  available(): Promise<boolean> {
    // Installed is not enough: containers often forbid the namespaces bwrap needs.
    this.probe ??= succeeds(['bwrap', '--ro-bind', '/', '/', '--unshare-all', '--die-with-parent', '--', 'true']);
    return this.probe;
  }

  run(spec: RunSpec, io: RunIO, signal: AbortSignal): Promise<RunResult> {
    return runProcessGroup(bwrapArgs(spec), { cwd: spec.jobDir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }, io, signal);
  }
}
