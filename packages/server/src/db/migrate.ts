import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import * as m0001 from './migrations/0001_core.js';
import * as m0002 from './migrations/0002_listing_indexes.js';
import * as m0003 from './migrations/0003_jobs.js';
import * as m0004 from './migrations/0004_views.js';
import * as m0005 from './migrations/0005_batch_rules.js';
import * as m0006 from './migrations/0006_gear_owners.js';
import * as m0007 from './migrations/0007_collections.js';
import * as m0008 from './migrations/0008_web_sessions.js';
import * as m0009 from './migrations/0009_job_cluster.js';
import * as m0010 from './migrations/0010_gear_images.js';
import type { Database } from './schema.js';

/** Migrations are listed here in order; each file is applied once and never edited after release. */
const MIGRATIONS: Record<string, Migration> = {
  '0001_core': m0001,
  '0002_listing_indexes': m0002,
  '0003_jobs': m0003,
  '0004_views': m0004,
  '0005_batch_rules': m0005,
  '0006_gear_owners': m0006,
  '0007_collections': m0007,
  '0008_web_sessions': m0008,
  '0009_job_cluster': m0009,
  '0010_gear_images': m0010,
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

export async function migrateToLatest(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: 'sprocket_migrations',
    migrationLockTableName: 'sprocket_migrations_lock',
    allowUnorderedMigrations: true,
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${String((error as Error)?.message ?? error)}`);
  }
}
