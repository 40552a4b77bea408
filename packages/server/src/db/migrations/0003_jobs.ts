import type { Kysely } from 'kysely';

// Migrations are typed against `any`: they must keep working when later schema types change.
// biome-ignore lint/suspicious/noExplicitAny: see above
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('gears')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('manifest', 'text', (c) => c.notNull())
    .addColumn('exchange', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('archive_key', 'text')
    .addColumn('archive_size', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .execute();
  // Name+version is the gear's identity; the unique index is what turns a duplicate upload into a 409.
  await db.schema.createIndex('gears_name_version').on('gears').columns(['name', 'version']).unique().execute();
  await db.schema.createIndex('gears_name_created').on('gears').columns(['name', 'created']).execute();

  // Engines authenticate as devices; their keys live in api_keys with type 'engine' and user_id = device id.
  await db.schema
    .createTable('devices')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_seen', 'text')
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .execute();

  // api_keys.user_id referenced users only; device keys need it to name a device. The table is
  // rebuilt without that reference (the one portable way: SQLite cannot drop a constraint).
  await db.schema
    .createTable('api_keys_v3')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull().unique())
    .addColumn('label', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('type', 'text', (c) => c.notNull().defaultTo('user'))
    .addColumn('job_id', 'text')
    .addColumn('read_only', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('last_used', 'text')
    .addColumn('revoked', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db
    .insertInto('api_keys_v3')
    .columns(['id', 'user_id', 'hash', 'label', 'type', 'job_id', 'read_only', 'created', 'last_used', 'revoked'])
    .expression(
      db
        .selectFrom('api_keys')
        .select(['id', 'user_id', 'hash', 'label', 'type', 'job_id', 'read_only', 'created', 'last_used', 'revoked']),
    )
    .execute();
  await db.schema.dropTable('api_keys').execute();
  await db.schema.alterTable('api_keys_v3').renameTo('api_keys').execute();
  await db.schema.createIndex('api_keys_user').on('api_keys').column('user_id').execute();
  await db.schema.createIndex('api_keys_job').on('api_keys').column('job_id').execute();

  await db.schema
    .createTable('jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('gear_id', 'text', (c) => c.notNull())
    .addColumn('gear_name', 'text', (c) => c.notNull())
    .addColumn('gear_info', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('priority', 'text', (c) => c.notNull())
    .addColumn('priority_rank', 'integer', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('previous_job_id', 'text')
    .addColumn('retried', 'text')
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('origin_id', 'text')
    .addColumn('inputs', 'text', (c) => c.notNull())
    .addColumn('destination_type', 'text', (c) => c.notNull())
    .addColumn('destination_id', 'text', (c) => c.notNull())
    .addColumn('config', 'text', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('label', 'text')
    .addColumn('batch', 'text')
    .addColumn('capabilities', 'text', (c) => c.notNull())
    .addColumn('resources', 'text', (c) => c.notNull())
    .addColumn('saved_files', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('produced_metadata', 'text')
    .addColumn('failure_reason', 'text')
    .addColumn('exit_code', 'integer')
    .addColumn('failed_output_accepted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('profile', 'text', (c) => c.notNull())
    .addColumn('parents', 'text', (c) => c.notNull())
    .addColumn('related_container_ids', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text')
    .addColumn('claimed_by', 'text')
    .addColumn('heartbeat', 'text')
    .addColumn('ticket', 'text')
    .addColumn('ticket_success', 'integer')
    .addColumn('t_running', 'text')
    .addColumn('t_complete', 'text')
    .addColumn('t_failed', 'text')
    .addColumn('t_cancelled', 'text')
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .execute();
  // The claim query walks pending jobs in (priority, age) order; the sweep walks running jobs by heartbeat.
  // Directions match the claim's ORDER BY, so the next job is the first index entry, not a sort of the queue.
  await db.schema.createIndex('jobs_claim').on('jobs').columns(['state', 'priority_rank desc', 'created', 'id']).execute();
  await db.schema.createIndex('jobs_state_heartbeat').on('jobs').columns(['state', 'heartbeat']).execute();
  await db.schema.createIndex('jobs_origin').on('jobs').columns(['origin_id', 'created']).execute();
  await db.schema.createIndex('jobs_gear').on('jobs').columns(['gear_id']).execute();
  await db.schema.createIndex('jobs_batch').on('jobs').columns(['batch']).execute();

  // Every container a job touches (inputs, destination and their ancestors), for /{cont}/{id}/jobs.
  await db.schema
    .createTable('job_containers')
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('container_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('job_containers_pk', ['container_id', 'job_id'])
    .execute();
  await db.schema.createIndex('job_containers_job').on('job_containers').column('job_id').execute();

  // One row per append: the engine posts lines in batches, the server adds system lines.
  await db.schema
    .createTable('job_logs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('lines', 'text', (c) => c.notNull())
    .addColumn('created', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('job_logs_job').on('job_logs').columns(['job_id', 'created', 'id']).execute();
}
