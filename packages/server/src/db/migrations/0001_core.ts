import type { Kysely } from 'kysely';

// Migrations are typed against `any`: they must keep working when later schema types change.
// biome-ignore lint/suspicious/noExplicitAny: see above
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('firstname', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('lastname', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('roles', 'text', (c) => c.notNull())
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('hash', 'text', (c) => c.notNull().unique())
    .addColumn('label', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('type', 'text', (c) => c.notNull().defaultTo('user'))
    .addColumn('job_id', 'text')
    .addColumn('read_only', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('last_used', 'text')
    .addColumn('revoked', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('api_keys_user').on('api_keys').column('user_id').execute();

  await db.schema
    .createTable('groups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('info', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('group_permissions')
    .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('access', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('group_permissions_pk', ['group_id', 'user_id'])
    .execute();
  await db.schema.createIndex('group_permissions_user').on('group_permissions').column('user_id').execute();

  await db.schema
    .createTable('containers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('group_id', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text')
    .addColumn('subject_id', 'text')
    .addColumn('session_id', 'text')
    .addColumn('acquisition_id', 'text')
    .addColumn('parent_type', 'text', (c) => c.notNull())
    .addColumn('parent_id', 'text', (c) => c.notNull())
    .addColumn('info', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('notes', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('fields', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('uid', 'text')
    .addColumn('timestamp', 'text')
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .execute();
  // Child listings, label filters and lookups by path all start from (parent, type, label).
  await db.schema.createIndex('containers_parent').on('containers').columns(['parent_id', 'type', 'label']).execute();
  await db.schema.createIndex('containers_type_label').on('containers').columns(['type', 'label']).execute();
  await db.schema.createIndex('containers_project').on('containers').columns(['project_id', 'type', 'id']).execute();
  await db.schema.createIndex('containers_session').on('containers').columns(['session_id', 'type']).execute();
  await db.schema.createIndex('containers_uid').on('containers').columns(['uid']).execute();

  await db.schema
    .createTable('files')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('file_id', 'text', (c) => c.notNull())
    .addColumn('container_type', 'text', (c) => c.notNull())
    .addColumn('container_id', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('current', 'integer', (c) => c.notNull())
    .addColumn('type', 'text')
    .addColumn('mimetype', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('modality', 'text')
    .addColumn('classification', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('info', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('zip_member_count', 'integer')
    .addColumn('from_failed_job', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .addColumn('replaced', 'text')
    .execute();
  await db.schema.createIndex('files_container_name').on('files').columns(['container_id', 'name', 'version']).unique().execute();
  await db.schema.createIndex('files_container_current').on('files').columns(['container_id', 'current']).execute();
  await db.schema.createIndex('files_project_type').on('files').columns(['project_id', 'type']).execute();
  await db.schema.createIndex('files_file_id').on('files').columns(['file_id', 'version']).execute();

  await db.schema
    .createTable('roles')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('label', 'text', (c) => c.notNull().unique())
    .addColumn('actions', 'text', (c) => c.notNull())
    .addColumn('default_flywheel_role', 'text')
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('project_permissions')
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('role_ids', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('project_permissions_pk', ['project_id', 'user_id'])
    .execute();
  await db.schema.createIndex('project_permissions_user').on('project_permissions').column('user_id').execute();
}
