import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on the evolving schema types
export async function up(db: Kysely<any>): Promise<void> {
  // A container image archive uploaded with a gear (podman save / docker save), for sites without a
  // registry: its content in the file store, its sha-256 (engines fetch it once per digest) and
  // the image name it provides (the one the manifest names).
  await db.schema
    .createTable('gear_images')
    .addColumn('gear_id', 'text', (c) => c.primaryKey().references('gears.id').onDelete('cascade'))
    .addColumn('archive_key', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('image', 'text', (c) => c.notNull())
    .addColumn('created', 'text', (c) => c.notNull())
    .execute();
}
