import path from 'node:path';
import type { DatabaseHandle } from './dialect.js';
import { migrateToLatest } from './migrate.js';
import { openSqlite } from './sqlite.js';

/** Opens the metadata database named by the config and brings its schema up to date. */
export async function connectDatabase(opts: { databaseUrl?: string; dataDir: string }): Promise<DatabaseHandle> {
  // The PostgreSQL driver loads only for a PostgreSQL URL: on SQLite it would be ~9 MB of idle RSS.
  const handle = opts.databaseUrl?.startsWith('postgres')
    ? (await import('./postgres.js')).openPostgres(opts.databaseUrl)
    : openSqlite(opts.databaseUrl?.replace(/^sqlite:/, '') || path.join(opts.dataDir, 'sprocket.db'));
  await migrateToLatest(handle.db);
  return handle;
}
