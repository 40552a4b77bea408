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
  /** Where file content lives (SPROCKET_STORAGE): the data directory, or an S3-compatible bucket. */
  storage: StorageConfig;
}

export type StorageConfig = { kind: 'local' } | S3StorageConfig;

/** `SPROCKET_STORAGE=s3://bucket/prefix`, with the endpoint, region and credentials from the usual AWS variables. */
export interface S3StorageConfig {
  kind: 's3';
  bucket: string;
  /** Key prefix without slashes at either end; '' for the bucket's root. */
  prefix: string;
  /** AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL; undefined means AWS itself. */
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  /** From AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; undefined leaves it to the SDK's own chain (profiles, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

// S3's bucket naming rules: 3-63 lowercase letters, digits, dots and hyphens, starting and ending alphanumeric.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function booleanVar(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (/^(1|true|yes)$/i.test(raw)) return true;
  if (/^(0|false|no)$/i.test(raw)) return false;
  throw new Error(`${name} must be true or false, got ${raw}`);
}

export function parseStorage(env: NodeJS.ProcessEnv): StorageConfig {
  const raw = env.SPROCKET_STORAGE;
  if (raw === undefined || raw === '' || raw === 'local') return { kind: 'local' };
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(raw);
  if (!m) throw new Error(`SPROCKET_STORAGE must be 'local' or s3://bucket/prefix, got ${raw}`);
  const bucket = m[1]!;
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    throw new Error(
      `SPROCKET_STORAGE names bucket '${bucket}', which is not a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)`,
    );
  }
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix !== '' && prefix.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) {
    throw new Error(`SPROCKET_STORAGE has prefix '${prefix}', which has an empty, '.' or '..' segment`);
  }
  const endpointVar = env.AWS_ENDPOINT_URL_S3 ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL';
  const endpoint = env[endpointVar] || undefined;
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {}
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      throw new Error(`${endpointVar} must be an http:// or https:// URL, got ${endpoint}`);
  }
  const accessKeyId = env.AWS_ACCESS_KEY_ID || undefined;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY || undefined;
  if (!accessKeyId !== !secretAccessKey) {
    throw new Error(
      `${accessKeyId ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID'} must be set too: one of the pair alone is not a credential`,
    );
  }
  return {
    kind: 's3',
    bucket,
    prefix,
    endpoint,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    // Endpoints other than AWS (MinIO, Ceph, s3rver) rarely resolve bucket subdomains.
    forcePathStyle: booleanVar(env, 'SPROCKET_S3_FORCE_PATH_STYLE') ?? endpoint !== undefined,
    credentials:
      accessKeyId && secretAccessKey
        ? { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) }
        : undefined,
  };
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
    storage: parseStorage(env),
  };
}
