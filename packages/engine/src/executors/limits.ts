import fs from 'node:fs';
import path from 'node:path';
import { parseMemory } from '../resources.js';
import type { RunSpec } from './executor.js';

/**
 * Site settings bounding what one gear may use, read from the engine's environment (documented in
 * the engine's usage text). Read on each job so a test or an operator can change them per engine.
 */
export interface GearLimits {
  /** Host uid/gid a gear runs as when the engine is root (never 0). */
  uid: number;
  gid: number;
  /** Processes and threads one gear may have at once. */
  maxProcesses: number;
  /** Bytes the job folder (output/ and work/ above all) may grow to; also the largest single file. */
  diskBytes: number;
}

function nonNegativeInt(env: NodeJS.ProcessEnv, name: string, fallback: number, allowZero = false): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

function bytes(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = parseMemory(raw);
  if (!n) throw new Error(`${name} must be a size such as 20G or 500M, got ${JSON.stringify(raw)}`);
  return n;
}

export const DEFAULT_GEAR_UID = 65534;
export const DEFAULT_MAX_PROCESSES = 512;
export const DEFAULT_DISK_BYTES = 20 * 1024 ** 3;

export function gearLimits(env: NodeJS.ProcessEnv = process.env): GearLimits {
  const uid = nonNegativeInt(env, 'SPROCKET_GEAR_UID', DEFAULT_GEAR_UID);
  return {
    uid,
    gid: nonNegativeInt(env, 'SPROCKET_GEAR_GID', uid),
    maxProcesses: nonNegativeInt(env, 'SPROCKET_GEAR_MAX_PROCESSES', DEFAULT_MAX_PROCESSES),
    diskBytes: bytes(env, 'SPROCKET_JOB_DISK_LIMIT', DEFAULT_DISK_BYTES),
  };
}

export const isRoot = (): boolean => process.getuid?.() === 0;

/** "268435456" → "256 MiB", for reasons users read. */
export function human(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/** A per-job cgroup (v1 controller folder), or undefined where this engine cannot make one. */
function makeCgroup(controller: string, jobId: string): string | undefined {
  const base = path.join(CGROUP_ROOT, controller);
  // cgroup v2 (one unified hierarchy) has no per-controller folder; there prlimit stands in.
  if (!fs.existsSync(path.join(base, 'cgroup.procs'))) return undefined;
  const dir = path.join(base, 'sprocket', jobId.replace(/[^a-zA-Z0-9_.-]/g, '_'));
  try {
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  } catch {
    return undefined;
  }
}

function write(file: string, value: string): boolean {
  try {
    fs.writeFileSync(file, value);
    return true;
  } catch {
    return false;
  }
}

async function removeCgroup(dir: string): Promise<void> {
  // The group's last processes may take a moment to be reaped after the kill.
  for (let i = 0; i < 50; i++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Removes the per-job cgroups that engines killed with SIGKILL left behind. Only empty groups can be
 * removed at all (a group with live processes answers EBUSY), and only those made more than
 * `olderThanMs` ago are tried: another engine on this host may have just made one its gear has not
 * joined yet. Returns how many went.
 */
export function sweepStaleCgroups(olderThanMs = 60_000): number {
  let removed = 0;
  for (const controller of ['pids', 'memory']) {
    const parent = path.join(CGROUP_ROOT, controller, 'sprocket');
    let names: string[];
    try {
      names = fs
        .readdirSync(parent, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      continue;
    }
    for (const name of names) {
      const dir = path.join(parent, name);
      try {
        if (Date.now() - fs.statSync(dir).mtimeMs < olderThanMs) continue;
        fs.rmdirSync(dir);
        removed++;
      } catch {
        // Busy (the gear still runs under another engine) or already gone.
      }
    }
  }
  return removed;
}

/** The limits as applied to one run: the command to spawn instead, and what to ask afterwards. */
export interface Confinement {
  argv: string[];
  /** After the run: the limit that stopped the gear, in words, or undefined. */
  verdict(): string | undefined;
  release(): Promise<void>;
}

/**
 * Wraps a command so the gear cannot exceed its process limit, its memory request or the disk limit
 * for a single file. A per-job cgroup (pids, memory) where the engine may make one, which counts
 * the gear alone and kills on memory overrun; otherwise prlimit (RLIMIT_NPROC, RLIMIT_AS), which
 * needs no privilege. RLIMIT_FSIZE always: one file can never outgrow the job's disk limit, whatever
 * the folder watch sees.
 */
export function confine(spec: RunSpec, argv: string[], limits: GearLimits = gearLimits()): Confinement {
  const memory = spec.resources.memory ? parseMemory(spec.resources.memory) : undefined;
  const groups: string[] = [];
  const rlimits = [`--fsize=${limits.diskBytes}`];
  const pids = makeCgroup('pids', spec.jobId);
  if (pids && write(path.join(pids, 'pids.max'), String(limits.maxProcesses))) groups.push(pids);
  else rlimits.push(`--nproc=${limits.maxProcesses}`);
  let mem: string | undefined;
  if (memory) {
    mem = makeCgroup('memory', spec.jobId);
    // Swap must not extend the request: memsw is absent when the kernel does not account swap.
    if (mem && write(path.join(mem, 'memory.limit_in_bytes'), String(memory))) {
      write(path.join(mem, 'memory.memsw.limit_in_bytes'), String(memory));
      groups.push(mem);
    } else {
      mem = undefined;
      rlimits.push(`--as=${memory}`);
    }
  }
  // The shell joins the groups before it becomes the command, so nothing the gear starts escapes them.
  const join = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; n=$((n-1)); done; exec "$@"';
  const wrapped = ['/bin/sh', '-c', join, 'sh', String(groups.length), ...groups, 'prlimit', ...rlimits, '--', ...argv];
  return {
    argv: wrapped,
    verdict() {
      if (!mem || !memory) return undefined;
      let control = '';
      try {
        control = fs.readFileSync(path.join(mem, 'memory.oom_control'), 'utf8');
      } catch {
        return undefined;
      }
      const oom = /oom_kill (\d+)/.exec(control);
      if (oom && Number(oom[1]) > 0) return `the gear used more than its memory request of ${human(memory)} and was killed`;
      return undefined;
    },
    async release() {
      for (const dir of [pids, mem]) if (dir) await removeCgroup(dir);
    },
  };
}
