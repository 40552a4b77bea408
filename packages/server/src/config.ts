import path from 'node:path';

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
  };
}
