import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on the evolving schema types
export async function up(db: Kysely<any>): Promise<void> {
  // A batch proposal and, once run, the launch. Its jobs are found by jobs.batch (latest attempts).
  await db.schema
    .createTable('batches')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('gear_id', 'text', (c) => c.notNull())
    // 'pending' until run, then 'launched' (the state shown is derived from the jobs) or 'cancelled'.
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('origin_id', 'text')
    .addColumn('config', 'text', (c) => c.notNull())
    .addColumn('proposal', 'text', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('batches_origin').on('batches').columns(['origin_id', 'created']).execute();

  // Gear rules of a project. Condition lists are JSON; `any`, `all` and `not` are SQL keywords.
  await db.schema
    .createTable('gear_rules')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('gear_id', 'text', (c) => c.notNull())
    .addColumn('gear_name', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('config', 'text')
    .addColumn('fixed_inputs', 'text', (c) => c.notNull())
    .addColumn('auto_update', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('any_of', 'text', (c) => c.notNull())
    .addColumn('all_of', 'text', (c) => c.notNull())
    .addColumn('none_of', 'text', (c) => c.notNull())
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('priority', 'text')
    .addColumn('compute_provider_id', 'text')
    // Whose read-only key the rule's jobs get for api-key inputs.
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('gear_rules_project').on('gear_rules').columns(['project_id', 'disabled']).execute();
  await db.schema.createIndex('gear_rules_gear_name').on('gear_rules').columns(['gear_name', 'auto_update']).execute();
}
