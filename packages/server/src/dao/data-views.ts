import type { Kysely } from 'kysely';
import type { Database, DataViewsTable } from '../db/schema.js';
import { newId, now } from '../ids.js';
import { type JsonObject, parseJson } from './json.js';

/** Saved data views: the stored spec, and the document it is answered as (spec fields plus ids). */

export function viewDoc(v: DataViewsTable): JsonObject {
  return { ...parseJson<JsonObject>(v.spec, {}), _id: v.id, parent: v.parent, label: v.label, origin: parseJson(v.origin, {}) };
}

/** The stored spec of a view (`fallback` for one that does not parse). */
export function viewSpecOf<T>(v: DataViewsTable, fallback: T): T {
  return parseJson<T>(v.spec, fallback);
}

export async function getView(db: Kysely<Database>, id: string): Promise<DataViewsTable | undefined> {
  return db.selectFrom('data_views').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The views saved on a parent (a container id, a user id or 'site'), oldest first. */
export async function viewsOf(db: Kysely<Database>, parent: string): Promise<DataViewsTable[]> {
  return db.selectFrom('data_views').selectAll().where('parent', '=', parent).orderBy('id').execute();
}

/** Saves a view made by a user; answers its id. */
export async function insertView(
  db: Kysely<Database>,
  parent: string,
  spec: JsonObject & { label?: string },
  userId: string,
): Promise<string> {
  const stamp = now();
  const id = newId();
  await db
    .insertInto('data_views')
    .values({
      id,
      parent,
      label: spec.label ?? 'view',
      spec: JSON.stringify(spec),
      origin: JSON.stringify({ type: 'user', id: userId }),
      created: stamp,
      modified: stamp,
    })
    .execute();
  return id;
}

export async function updateView(db: Kysely<Database>, id: string, spec: JsonObject, label: string): Promise<void> {
  await db
    .updateTable('data_views')
    .set({ spec: JSON.stringify(spec), label, modified: now() })
    .where('id', '=', id)
    .execute();
}

export async function deleteView(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom('data_views').where('id', '=', id).execute();
}
