import fs from 'node:fs';
import path from 'node:path';

/**
 * Data at rest is for the server's own user only: directories 0700, files 0600 (files/local.ts,
 * db/sqlite.ts and the key files follow this). Modes are given explicitly rather than left to the
 * umask, and an existing data directory is narrowed to 0700 at start.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates a directory (and missing parents) private to this user, and narrows it if it exists.
 * A directory every user may write to (/tmp, say) is shared by nature: narrowing it would break
 * the host and keeping it would expose the data, so it is refused.
 */
export function ensurePrivateDir(dir: string): void {
  const existing = fs.statSync(dir, { throwIfNoEntry: false });
  if (existing && (existing.mode & 0o002) !== 0) {
    throw new Error(
      `${dir} is writable by every user (mode ${(existing.mode & 0o7777).toString(8)}): give Sprocket a directory of its own (SPROCKET_DATA_DIR)`,
    );
  }
  fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  fs.chmodSync(dir, PRIVATE_DIR_MODE);
}

/** Everything the server reads from its environment, parsed once at start. */
export interface ServerConfig {
  dataDir: string;
  port: number;
  host: string;
  /** Metadata database: undefined means SQLite inside dataDir. */
  databaseUrl?: string;
  /** The URL clients use to reach the API, ending in /api. */
  publicUrl: string;
  logLevel: string;
  /** Seconds without a heartbeat after which a running job counts as orphaned. */
  jobHeartbeatTimeout: number;
  /** Orphaned jobs are retried while their attempt number is below this. */
  jobMaxAttempts: number;
  /** Bounds on a gear archive at `POST /gears` (SPROCKET_GEAR_ARCHIVE_*): a tar.gz may not expand past them. */
  gearArchive: { maxBytes: number; maxEntries: number; maxRatio: number };
  /** Bounds on a container image archive uploaded with a gear (SPROCKET_GEAR_IMAGE_*): bytes as sent, tar members. */
  gearImage: { maxBytes: number; maxEntries: number };
  /** Bounds on DICOM header extraction per uploaded file (SPROCKET_DICOM_*): where a zip bomb stops. */
  dicomLimits: { maxInflatedBytes: number; maxMembers: number; timeoutSeconds: number };
  /** Bounds on data views that read files (`fileSpec.processFiles`, SPROCKET_VIEW_*): bytes per file, rows per view. */
  viewLimits: { maxFileBytes: number; maxRows: number };
}

function positiveNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, integer: boolean): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${raw}`);
  }
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const port = Number(env.SPROCKET_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`SPROCKET_PORT must be an integer between 0 and 65535, got ${env.SPROCKET_PORT}`);
  }
  const host = env.SPROCKET_HOST ?? '127.0.0.1';
  const publicHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return {
    dataDir: path.resolve(env.SPROCKET_DATA_DIR ?? './sprocket-data'),
    port,
    host,
    databaseUrl: env.DATABASE_URL || undefined,
    publicUrl: (env.SPROCKET_PUBLIC_URL ?? `http://${publicHost}:${port}`).replace(/\/+$/, '').replace(/\/api$/, '') + '/api',
    logLevel: env.SPROCKET_LOG_LEVEL ?? 'warn',
    jobHeartbeatTimeout: positiveNumber(env, 'SPROCKET_JOB_HEARTBEAT_TIMEOUT', 60, false),
    jobMaxAttempts: positiveNumber(env, 'SPROCKET_JOB_MAX_ATTEMPTS', 3, true),
    gearImage: {
      maxBytes: positiveNumber(env, 'SPROCKET_GEAR_IMAGE_MAX_BYTES', 16 * 1024 ** 3, true),
      maxEntries: positiveNumber(env, 'SPROCKET_GEAR_IMAGE_MAX_ENTRIES', 10_000, true),
    },
    gearArchive: {
      maxBytes: positiveNumber(env, 'SPROCKET_GEAR_ARCHIVE_MAX_BYTES', 4 * 1024 ** 3, true),
      maxEntries: positiveNumber(env, 'SPROCKET_GEAR_ARCHIVE_MAX_ENTRIES', 100_000, true),
      maxRatio: positiveNumber(env, 'SPROCKET_GEAR_ARCHIVE_MAX_RATIO', 100, false),
    },
    dicomLimits: {
      maxInflatedBytes: positiveNumber(env, 'SPROCKET_DICOM_MAX_INFLATED_BYTES', 1024 ** 3, true),
      maxMembers: positiveNumber(env, 'SPROCKET_DICOM_ZIP_MAX_MEMBERS', 100_000, true),
      timeoutSeconds: positiveNumber(env, 'SPROCKET_DICOM_EXTRACT_TIMEOUT', 60, false),
    },
    viewLimits: {
      maxFileBytes: positiveNumber(env, 'SPROCKET_VIEW_MAX_FILE_BYTES', 256 * 1024 ** 2, true),
      maxRows: positiveNumber(env, 'SPROCKET_VIEW_MAX_ROWS', 1_000_000, true),
    },
  };
}
