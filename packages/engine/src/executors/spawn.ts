import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { KILL_GRACE_MS, type RunIO, type RunResult, type RunSpec } from './executor.js';
import { confine, type GearLimits, gearLimits, human, isRoot } from './limits.js';

function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Runs argv as the leader of a new process group, so that stopping it means signalling the group:
 * every child and grandchild the gear started goes with it (short of one that calls setsid itself,
 * which only a sandbox with its own pid namespace can catch).
 */
export function runProcessGroup(
  argv: string[],
  opts: { cwd: string; env: Record<string, string>; uid?: number; gid?: number },
  io: RunIO,
  signal: AbortSignal,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env,
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let forceTimer: NodeJS.Timeout | undefined;
    let exit: RunResult | undefined;

    const stop = () => {
      if (child.pid === undefined || exit) return;
      killGroup(child.pid, 'SIGTERM');
      forceTimer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), KILL_GRACE_MS);
    };
    signal.addEventListener('abort', stop, { once: true });

    child.stdout.on('data', (c: Buffer) => io.stdout(c));
    child.stderr.on('data', (c: Buffer) => io.stderr(c));
    child.on('error', (err) => {
      signal.removeEventListener('abort', stop);
      clearTimeout(forceTimer);
      reject(err);
    });
    child.on('exit', (code, sig) => {
      exit = { exitCode: code, ...(sig ? { signal: sig } : {}) };
      // The gear's main process is done; whatever it left running in the background goes too
      // (a container's processes die with its pid 1 the same way), and that closes the pipes.
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
    });
    child.on('close', () => {
      signal.removeEventListener('abort', stop);
      clearTimeout(forceTimer);
      resolve(exit ?? { exitCode: child.exitCode, ...(child.signalCode ? { signal: child.signalCode } : {}) });
    });
    if (signal.aborted) stop();
  });
}

/** Changes the owner of everything under `dir` (links themselves, never what they point to). */
async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await fs.promises.lchown(dir, uid, gid);
  for (const entry of await fs.promises.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(p, uid, gid);
    else await fs.promises.lchown(p, uid, gid);
  }
}

/**
 * Hands the job folder to the host user the gear runs as, so it can read its files, inputs and
 * config.json (private: it may hold an API key) and write output/ and work/. Only root can switch
 * users; for anyone else the gear runs as the engine's user and nothing changes hands.
 */
export async function handOver(jobDir: string, owner: { uid: number; gid: number } | undefined): Promise<void> {
  if (!owner || !isRoot()) return;
  await chownTree(jobDir, owner.uid, owner.gid);
}

/**
 * runProcessGroup inside the site's limits (process count, memory request, largest file): the
 * result names the limit that stopped the gear, if one did.
 */
export async function runConfined(
  spec: RunSpec,
  argv: string[],
  opts: { cwd: string; env: Record<string, string>; uid?: number; gid?: number },
  io: RunIO,
  signal: AbortSignal,
  limits: GearLimits = gearLimits(),
): Promise<RunResult> {
  const confinement = confine(spec, argv, limits);
  try {
    const result = await runProcessGroup(confinement.argv, opts, io, signal);
    const limit = confinement.verdict();
    if (limit) return { ...result, limit };
    if (result.signal === 'SIGXFSZ')
      return {
        ...result,
        limit: `the gear wrote a file larger than the job disk limit of ${human(limits.diskBytes)} (SPROCKET_JOB_DISK_LIMIT)`,
      };
    return result;
  } finally {
    await confinement.release();
  }
}
