import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { KILL_GRACE_MS, type RunIO, type RunResult } from './executor.js';

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

/**
 * Lets a gear that runs as another user write where it must (output/, work/) and read its
 * config.json (private: it may hold an API key). Only root can switch
 * users, so for anyone else the request is ignored and the gear runs as the engine's user.
 */
export async function handOver(spec: { jobDir: string; uid?: number; gid?: number }): Promise<{ uid?: number; gid?: number }> {
  if (spec.uid === undefined || process.getuid?.() !== 0) return {};
  const uid = spec.uid;
  const gid = spec.gid ?? spec.uid;
  for (const name of ['output', 'work', 'config.json']) await fs.promises.chown(path.join(spec.jobDir, name), uid, gid).catch(() => {});
  return { uid, gid };
}
