import type { Kysely, SelectQueryBuilder, Transaction } from 'kysely';
import type { CollectionsTable, ContainersTable, Database } from '../db/schema.js';
import type { FieldResolver } from '../http/filters.js';
import { now } from '../ids.js';
import { type JsonObject, parseJson } from './json.js';
import { roleAssignmentsOf } from './role-assignments.js';

/**
 * Collections hold references to sessions and acquisitions, never copies. Membership is live:
 * a session is in a collection when it was added itself or when one of its acquisitions was; an
 * acquisition is in it when it was added itself or its session was (acquisitions made later in an
 * added session included).
 */

export const COLLECTION_LEVELS = ['session', 'acquisition'] as const;
export type CollectionLevel = (typeof COLLECTION_LEVELS)[number];

export interface CollectionNode {
  _id: string;
  level: CollectionLevel;
}

type Db = Kysely<Database> | Transaction<Database>;

const COLUMN_KEYS: Record<string, string> = {
  _id: 'id',
  id: 'id',
  label: 'label',
  description: 'description',
  curator: 'curator',
  created: 'created',
  modified: 'modified',
};

export const collectionFieldResolver: FieldResolver = (key) => {
  const col = COLUMN_KEYS[key];
  if (col) return { kind: 'column', column: `collections.${col}` };
  if (key === 'tags') return { kind: 'array', column: 'collections.tags' };
  if (key.startsWith('info.')) return { kind: 'json', column: 'collections.info', path: key.slice(5).split('.') };
  return undefined;
};

/** Role assignments per collection, `[{_id, role_ids}]` as on a project. */
export function collectionPermissions(db: Db, ids: string[]): Promise<Map<string, JsonObject[]>> {
  return roleAssignmentsOf(db, 'collection', ids);
}

/** The document of a collection in Flywheel's field names (`info` only on single GETs). */
export function collectionDoc(row: CollectionsTable, permissions: JsonObject[], withInfo: boolean): JsonObject {
  const info = parseJson<JsonObject>(row.info, {});
  const doc: JsonObject = {
    _id: row.id,
    container_type: 'collection',
    label: row.label,
    ...(row.description !== null ? { description: row.description } : {}),
    curator: row.curator,
    tags: parseJson<string[]>(row.tags, []),
    notes: parseJson<JsonObject[]>(row.notes, []),
    info_exists: Object.keys(info).length > 0,
    // Collections carry no files of their own here; the field is kept for Flywheel's model.
    files: [],
    permissions,
    created: row.created,
    modified: row.modified,
  };
  if (withInfo) doc.info = info;
  return doc;
}

function memberIds(db: Db, collectionId: string, level: CollectionLevel) {
  return db.selectFrom('collection_members').select('container_id').where('collection_id', '=', collectionId).where('level', '=', level);
}

/** Sessions of a collection: added themselves, or holding an added acquisition. */
export function sessionsQuery(db: Kysely<Database>, collectionId: string): SelectQueryBuilder<Database, 'containers', ContainersTable> {
  return db
    .selectFrom('containers')
    .selectAll()
    .where('type', '=', 'session')
    .where((eb) =>
      eb.or([
        eb('id', 'in', memberIds(db, collectionId, 'session')),
        eb(
          'id',
          'in',
          eb
            .selectFrom('containers as a')
            .select('a.session_id')
            .where('a.id', 'in', memberIds(db, collectionId, 'acquisition')),
        ),
      ]),
    );
}

/** Acquisitions of a collection: added themselves, or in an added session. */
export function acquisitionsQuery(db: Kysely<Database>, collectionId: string): SelectQueryBuilder<Database, 'containers', ContainersTable> {
  return db
    .selectFrom('containers')
    .selectAll()
    .where('type', '=', 'acquisition')
    .where((eb) =>
      eb.or([eb('id', 'in', memberIds(db, collectionId, 'acquisition')), eb('session_id', 'in', memberIds(db, collectionId, 'session'))]),
    );
}

export async function addMembers(db: Db, collectionId: string, nodes: CollectionNode[]): Promise<number> {
  const stamp = now();
  let added = 0;
  for (const n of nodes) {
    const r = await db
      .insertInto('collection_members')
      .values({ collection_id: collectionId, container_id: n._id, level: n.level, created: stamp })
      .onConflict((oc) => oc.columns(['collection_id', 'container_id']).doNothing())
      .executeTakeFirst();
    added += Number(r.numInsertedOrUpdatedRows ?? 0);
  }
  return added;
}

/**
 * Takes nodes out. A session goes with every acquisition of it that was added on its own (else it
 * would stay in through them). An acquisition that is in only through its session splits that
 * session up: the session's row makes way for rows of its other acquisitions, so the rest stays.
 */
export async function removeMembers(db: Db, collectionId: string, nodes: { node: CollectionNode; row: ContainersTable }[]): Promise<void> {
  for (const { node, row } of nodes) {
    const inThis = db.deleteFrom('collection_members').where('collection_id', '=', collectionId);
    if (node.level === 'session') {
      await inThis.where('container_id', '=', row.id).execute();
      await db
        .deleteFrom('collection_members')
        .where('collection_id', '=', collectionId)
        .where(
          'container_id',
          'in',
          db.selectFrom('containers').select('id').where('session_id', '=', row.id).where('type', '=', 'acquisition'),
        )
        .execute();
      continue;
    }
    await inThis.where('container_id', '=', row.id).execute();
    if (!row.session_id) continue;
    const viaSession = await db
      .deleteFrom('collection_members')
      .where('collection_id', '=', collectionId)
      .where('container_id', '=', row.session_id)
      .executeTakeFirst();
    if (Number(viaSession.numDeletedRows) === 0) continue;
    const siblings = await db
      .selectFrom('containers')
      .select('id')
      .where('session_id', '=', row.session_id)
      .where('type', '=', 'acquisition')
      .where('id', '!=', row.id)
      .execute();
    await addMembers(
      db,
      collectionId,
      siblings.map((s) => ({ _id: s.id, level: 'acquisition' as const })),
    );
  }
}
