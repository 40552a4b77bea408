import type { Kysely } from 'kysely';

/**
 * Indexes found missing by the storage benchmark (bench/storage.ts, 100,000 acquisitions):
 * - `/subjects/{id}/acquisitions` and `filter=parents.subject=…` scanned every acquisition (no index
 *   on subject_id): 200 ms.
 * - a label filter inside a project walked the whole project in id order looking for the label: 50 ms
 *   for a label that occurs once.
 * - label filters and session listings sorted their matches by id; ending the indexes with id lets
 *   them read rows already in page order and stop at `limit`.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on the evolving schema types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('containers_subject').on('containers').columns(['subject_id', 'type', 'id']).execute();
  await db.schema.createIndex('containers_project_label').on('containers').columns(['project_id', 'type', 'label', 'id']).execute();
  await db.schema.createIndex('containers_type_label_id').on('containers').columns(['type', 'label', 'id']).execute();
  await db.schema.dropIndex('containers_type_label').execute();
  await db.schema.createIndex('containers_session_id').on('containers').columns(['session_id', 'type', 'id']).execute();
  await db.schema.dropIndex('containers_session').execute();
}
