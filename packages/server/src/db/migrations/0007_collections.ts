import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on the evolving schema types
export async function up(db: Kysely<any>): Promise<void> {
  // A collection is a user-curated set of sessions and acquisitions from any projects. It lives
  // outside the group → project hierarchy, so it has its own table and its own permissions
  // (role assignments shaped like a project's) rather than rows in `containers`.
  await db.schema
    .createTable('collections')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('curator', 'text', (c) => c.notNull())
    .addColumn('info', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('notes', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('collections_label').on('collections').columns(['label']).execute();

  await db.schema
    .createTable('collection_permissions')
    .addColumn('collection_id', 'text', (c) => c.notNull().references('collections.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('role_ids', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('collection_permissions_pk', ['collection_id', 'user_id'])
    .execute();
  await db.schema.createIndex('collection_permissions_user').on('collection_permissions').column('user_id').execute();

  // References, not copies: one row per container the curator added (level 'session' or
  // 'acquisition'). No foreign key to containers: container deletes remove their rows explicitly
  // (routes/containers.ts), in the same transaction as the containers themselves.
  await db.schema
    .createTable('collection_members')
    .addColumn('collection_id', 'text', (c) => c.notNull().references('collections.id').onDelete('cascade'))
    .addColumn('container_id', 'text', (c) => c.notNull())
    .addColumn('level', 'text', (c) => c.notNull())
    .addColumn('created', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('collection_members_pk', ['collection_id', 'container_id'])
    .execute();
  await db.schema.createIndex('collection_members_container').on('collection_members').column('container_id').execute();
}
