import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on the evolving schema types
export async function up(db: Kysely<any>): Promise<void> {
  // Who may upload new versions of a gear name: its owner (the first uploader) and site admins.
  // owner_id null means "site admins only".
  await db.schema
    .createTable('gear_names')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text')
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .execute();
  // The name's owner when this version was stored (auto_update rules follow only the same owner),
  // and who sent it (an admin may upload a version of someone else's gear).
  await db.schema.alterTable('gears').addColumn('owner_id', 'text').execute();
  await db.schema.alterTable('gears').addColumn('uploaded_by', 'text').execute();
  // Gears stored before this migration have no recorded uploader: their names belong to the site
  // admins, so no developer can claim an existing name (the shipped gears included) by uploading.
  await db
    .insertInto('gear_names')
    .columns(['name', 'created', 'modified'])
    .expression(
      db
        .selectFrom('gears')
        .select(['name', sql<string>`min(created)`.as('created'), sql<string>`min(created)`.as('modified')])
        .groupBy('name'),
    )
    .execute();
}
