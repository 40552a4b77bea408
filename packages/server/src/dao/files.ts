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
