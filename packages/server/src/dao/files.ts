import type { Kysely } from 'kysely';
import type { ContainersTable, Database, FilesTable } from '../db/schema.js';
import { type JsonObject, jsonHasKeys, parseJson } from './json.js';

/** A file entry as Flywheel's FileEntry: `_id` is the file's stable id across versions. */
export function fileDoc(f: FilesTable, container: Pick<ContainersTable, 'id' | 'type'> | undefined, withInfo: boolean): JsonObject {
  const doc: JsonObject = {
    _id: f.file_id,
    file_id: f.file_id,
    version: f.version,
    name: f.name,
    type: f.type,
    mimetype: f.mimetype,
    size: f.size,
    hash: `v0-sha384-${f.hash}`,
    modality: f.modality,
    classification: parseJson<JsonObject>(f.classification, {}),
    tags: parseJson<string[]>(f.tags, []),
    origin: parseJson<JsonObject>(f.origin, {}),
    parent_ref: { type: f.container_type, id: f.container_id },
    info_exists: jsonHasKeys(f.info),
    zip_member_count: f.zip_member_count,
    created: f.created,
    modified: f.modified,
    replaced: f.replaced,
  };
  if (container && container.id !== f.container_id) doc.parent_ref = { type: container.type, id: container.id };
  if (f.from_failed_job) doc.from_failed_job = true;
  if (withInfo) doc.info = parseJson<JsonObject>(f.info, {});
  return doc;
}

export async function getCurrentFile(db: Kysely<Database>, containerId: string, name: string): Promise<FilesTable | undefined> {
  return db
    .selectFrom('files')
    .selectAll()
    .where('container_id', '=', containerId)
    .where('name', '=', name)
    .where('current', '=', 1)
    .executeTakeFirst();
}

export async function getFileVersion(
  db: Kysely<Database>,
  containerId: string,
  name: string,
  version: number,
): Promise<FilesTable | undefined> {
  return db
    .selectFrom('files')
    .selectAll()
    .where('container_id', '=', containerId)
    .where('name', '=', name)
    .where('version', '=', version)
    .executeTakeFirst();
}

/** A file version by its key (the row id a download ticket names). */
export async function fileByKey(db: Kysely<Database>, id: string): Promise<FilesTable | undefined> {
  return db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Every stored version of a file (its stable `file_id`) in a container, oldest first. */
export async function fileVersions(db: Kysely<Database>, containerId: string, fileId: string): Promise<FilesTable[]> {
  return db
    .selectFrom('files')
    .selectAll()
    .where('container_id', '=', containerId)
    .where('file_id', '=', fileId)
    .orderBy('version')
    .execute();
}

/** The keys (row ids, which name the blobs) of every version of a file. */
export async function fileVersionKeys(db: Kysely<Database>, containerId: string, fileId: string): Promise<string[]> {
  const rows = await db.selectFrom('files').select('id').where('container_id', '=', containerId).where('file_id', '=', fileId).execute();
  return rows.map((r) => r.id);
}

/** Deletes every version of a file. */
export async function deleteFileVersions(db: Kysely<Database>, containerId: string, fileId: string): Promise<void> {
  await db.deleteFrom('files').where('container_id', '=', containerId).where('file_id', '=', fileId).execute();
}

/**
 * Applies `patch` to a file version as it is inside a transaction that holds the row's lock (taken
 * by the first update, which stamps it modified), so concurrent edits build on each other. Answers
 * the row before and after, or undefined when the row is gone.
 */
export async function patchFile(
  db: Kysely<Database>,
  id: string,
  patch: (current: FilesTable) => Partial<FilesTable>,
  stamp: string,
): Promise<{ before: FilesTable; after: FilesTable } | undefined> {
  return db.transaction().execute(async (trx) => {
    const locked = await trx.updateTable('files').set({ modified: stamp }).where('id', '=', id).executeTakeFirst();
    if (!locked.numUpdatedRows) return undefined;
    const before = await trx.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const p = patch(before);
    await trx.updateTable('files').set(p).where('id', '=', id).execute();
    return { before, after: { ...before, ...p, modified: stamp } };
  });
}
