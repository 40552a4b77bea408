import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { archiveLimits } from './archive.js';
import { EXECUTOR_CHOICES, type ExecutorChoice } from './executors/choices.js';
import { imageLimits } from './executors/images.js';
import { gearLimits } from './executors/limits.js';
import { podmanUidBase } from './executors/podman.js';
import { gearCacheMax } from './layout.js';
import { loadSlurmConfig, SLURM_USAGE, type SlurmConfig } from './slurm/config.js';

/** Everything the engine reads from its command line and environment, checked once at start. */
export interface EngineConfig {
  key: string;
  /** Overrides the API address the key names (behind a proxy, say). */
  apiUrl?: string;
  concurrency: number;
  workDir: string;
  executor: ExecutorChoice;
  capabilities: string[];
  waitSeconds: number;
  shutdownGraceMs: number;
  keepJobDirs: boolean;
  logLevel: string;
  /** Set when `executor` is `slurm`: how jobs are submitted to the cluster. */
  slurm?: SlurmConfig;
}

export const USAGE = `Usage: sprocket-engine [--key KEY | --key-file FILE] [--concurrency N] [--dir DIR] [--executor auto|bwrap|process|podman|charliecloud|slurm]

  --key, SPROCKET_API_KEY            engine key <host>:<port>[:__force_insecure]:<secret> (it names the API)
  --key-file, SPROCKET_API_KEY_FILE  file holding the key
  --url, SPROCKET_API_URL            API URL, when it differs from what the key names
  --concurrency, SPROCKET_ENGINE_CONCURRENCY   jobs at once (default: number of cores)
  --dir, SPROCKET_ENGINE_DIR         work folder: gear cache and job folders (default: <tmp>/sprocket-engine)
  --executor, SPROCKET_EXECUTOR      auto (default), bwrap, process, podman, charliecloud, or slurm (each job is
                                     submitted to a Slurm cluster; see below)
  SPROCKET_ENGINE_CAPABILITIES       comma-separated (default: networking)
  SPROCKET_ENGINE_SHUTDOWN_GRACE     seconds running jobs get on shutdown (default 10)
  SPROCKET_ENGINE_KEEP_JOBS=1        keep job folders after the job (debugging)
  SPROCKET_LOG_LEVEL                 debug, info (default), warn, error

Gear sandbox and limits:
  SPROCKET_GEAR_UID, SPROCKET_GEAR_GID   host user a gear runs as when the engine is root (default 65534, nobody)
  SPROCKET_GEAR_MAX_PROCESSES        processes and threads one gear may have (default 512)
  SPROCKET_JOB_DISK_LIMIT            size a job folder may grow to, and the largest file (default 20G)
  SPROCKET_GEAR_CACHE_MAX            size of the gear cache; least recently used gears go first (default 20G)
  SPROCKET_GEAR_ARCHIVE_MAX_BYTES    bytes a gear archive may expand to (default 4G)
  SPROCKET_GEAR_ARCHIVE_MAX_ENTRIES  members a gear archive may have (default 100000)
  SPROCKET_PODMAN_UID_BASE           host uid a rootful podman maps container root onto (default 524288)
  SPROCKET_CH_IMAGES                 charliecloud image store: one directory image per image name, named
                                     as ch-image does (localhost/gear:1 → localhost%gear+1; default <dir>/ch-images)
  SPROCKET_IMAGE_MAX_BYTES, SPROCKET_IMAGE_MAX_ENTRIES  how far an image archive uploaded with a gear
                                     may expand when unpacked for charliecloud (default 32G, 1000000 files)
  SPROCKET_PROCESS_EXECUTOR_AS_ROOT=true  let the unsandboxed process executor run gears when the
                                     engine is root (refused otherwise)
  A job's memory request is enforced (per-job cgroup, else prlimit --as).

${SLURM_USAGE}`;

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

export function loadEngineConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): EngineConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      key: { type: 'string' },
      'key-file': { type: 'string' },
      url: { type: 'string' },
      concurrency: { type: 'string' },
      dir: { type: 'string' },
      executor: { type: 'string' },
    },
    strict: true,
  });
  const keyFile = values['key-file'] ?? env.SPROCKET_API_KEY_FILE;
  let key = values.key ?? (keyFile ? undefined : env.SPROCKET_API_KEY);
  if (!key && keyFile) key = fs.readFileSync(keyFile, 'utf8').trim();
  if (!key) throw new Error('no engine key: pass --key or --key-file, or set SPROCKET_API_KEY');
  const executor = (values.executor ?? env.SPROCKET_EXECUTOR ?? 'auto') as ExecutorChoice;
  if (!EXECUTOR_CHOICES.includes(executor))
    throw new Error(`executor must be one of ${EXECUTOR_CHOICES.join(', ')}, got ${JSON.stringify(executor)}`);
  const grace = Number(env.SPROCKET_ENGINE_SHUTDOWN_GRACE ?? 10);
  if (!Number.isFinite(grace) || grace < 0) throw new Error('SPROCKET_ENGINE_SHUTDOWN_GRACE must be a number of seconds');
  // Checked here so a wrong setting stops the engine at start rather than failing every job.
  gearLimits(env);
  archiveLimits(env);
  gearCacheMax(env);
  podmanUidBase(env);
  imageLimits(env);
  return {
    key,
    apiUrl: values.url ?? env.SPROCKET_API_URL ?? undefined,
    concurrency: positiveInt('concurrency', values.concurrency ?? env.SPROCKET_ENGINE_CONCURRENCY, os.availableParallelism()),
    workDir: path.resolve(values.dir ?? env.SPROCKET_ENGINE_DIR ?? path.join(os.tmpdir(), 'sprocket-engine')),
    executor,
    capabilities: (env.SPROCKET_ENGINE_CAPABILITIES ?? 'networking')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    waitSeconds: 20,
    shutdownGraceMs: grace * 1000,
    keepJobDirs: env.SPROCKET_ENGINE_KEEP_JOBS === '1' || env.SPROCKET_ENGINE_KEEP_JOBS === 'true',
    logLevel: env.SPROCKET_LOG_LEVEL ?? 'info',
    ...(executor === 'slurm' ? { slurm: loadSlurmConfig(env) } : {}),
  };
}
