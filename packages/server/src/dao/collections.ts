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
  // Own keys only: `sort=constructor` must not find Object.prototype's members.
  const col = Object.hasOwn(COLUMN_KEYS, key) ? COLUMN_KEYS[key] : undefined;
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

export async function collectionExists(db: Kysely<Database>, id: string): Promise<boolean> {
  return (await db.selectFrom('collections').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
}

/** Writes the given columns of a collection and stamps it modified. */
export async function updateCollection(db: Db, id: string, patch: Partial<CollectionsTable>): Promise<void> {
  await db
    .updateTable('collections')
    .set({ ...patch, modified: now() })
    .where('id', '=', id)
    .execute();
}

/** The fields of a collection a client sets (`label` … `tags`), as its document holds them. */
export interface CollectionFields {
  label?: string;
  description?: string;
  info?: JsonObject;
  tags?: string[];
}

/** A new collection, its curator holding `roleId` (the admin role) on it. */
export async function insertCollection(
  db: Kysely<Database>,
  c: { id: string; curator: string; fields: CollectionFields & { label: string } },
  roleId: string,
): Promise<void> {
  const stamp = now();
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('collections')
      .values({
        id: c.id,
        label: c.fields.label,
        description: c.fields.description ?? null,
        curator: c.curator,
        info: JSON.stringify(c.fields.info ?? {}),
        tags: JSON.stringify(c.fields.tags ?? []),
        notes: '[]',
        created: stamp,
        modified: stamp,
      })
      .execute();
    await trx
      .insertInto('collection_permissions')
      .values({ collection_id: c.id, user_id: c.curator, role_ids: JSON.stringify([roleId]) })
      .execute();
  });
}

/** Changes a collection's contents (nodes added or removed) and the fields given, in one transaction. */
export async function modifyCollection(
  db: Kysely<Database>,
  id: string,
  change: { add?: CollectionNode[]; remove?: { node: CollectionNode; row: ContainersTable }[]; fields: CollectionFields },
): Promise<void> {
  const f = change.fields;
  await db.transaction().execute(async (trx) => {
    if (change.add) await addMembers(trx, id, change.add);
    if (change.remove) await removeMembers(trx, id, change.remove);
    await updateCollection(trx, id, {
      ...(f.label !== undefined ? { label: f.label } : {}),
      ...(f.description !== undefined ? { description: f.description } : {}),
      ...(f.info !== undefined ? { info: JSON.stringify(f.info) } : {}),
      ...(f.tags !== undefined ? { tags: JSON.stringify(f.tags) } : {}),
    });
  });
}

/** Deletes a collection with its members and role assignments (the containers it lists stay). */
export async function deleteCollection(db: Kysely<Database>, id: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('collection_members').where('collection_id', '=', id).execute();
    await trx.deleteFrom('collection_permissions').where('collection_id', '=', id).execute();
    await trx.deleteFrom('collections').where('id', '=', id).execute();
  });
}

/** Collections for a listing: every one, or those in `visible` (the ids a caller holds a role on). */
export function collectionsQuery(
  db: Kysely<Database>,
  visible: string[] | undefined,
): SelectQueryBuilder<Database, 'collections', CollectionsTable> {
  let q = db.selectFrom('collections').selectAll();
  if (visible) q = q.where('id', 'in', visible);
  return q;
}

/** The curators of the collections (all, or those in `visible`), by user id. */
export async function collectionCurators(
  db: Kysely<Database>,
  visible: string[] | undefined,
): Promise<{ id: string; firstname: string; lastname: string }[]> {
  let q = db
    .selectFrom('collections')
    .innerJoin('users', 'users.id', 'collections.curator')
    .select(['users.id', 'users.firstname', 'users.lastname'])
    .distinct();
  if (visible) q = q.where('collections.id', 'in', visible);
  return q.orderBy('users.id').execute();
}

/** Up to two collections (so a caller can tell one from several) with this id or label, among `visible` when given; oldest first. */
export async function collectionsNamed(
  db: Kysely<Database>,
  name: { id: string } | { label: string },
  visible: string[] | undefined,
): Promise<CollectionsTable[]> {
  let q = db.selectFrom('collections').selectAll();
  q = 'id' in name ? q.where('id', '=', name.id) : q.where('label', '=', name.label);
  if (visible) q = q.where('id', 'in', visible);
  return q.orderBy('created').orderBy('id').limit(2).execute();
}

/**
 * A collection's sessions or acquisitions for a listing: only those of one session when
 * `sessionId` is given, and only those in `projects` when given (a reader's visible projects).
 */
export function collectionMembersQuery(
  db: Kysely<Database>,
  level: CollectionLevel,
  collectionId: string,
  opts: { sessionId?: string; projects?: string[] },
): SelectQueryBuilder<Database, 'containers', ContainersTable> {
  let q = level === 'session' ? sessionsQuery(db, collectionId) : acquisitionsQuery(db, collectionId);
  if (opts.sessionId) q = q.where('session_id', '=', opts.sessionId);
  if (opts.projects) q = q.where('project_id', 'in', opts.projects);
  return q;
}
