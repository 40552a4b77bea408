import type { GroupAccess } from '@sprocket/types';
import type { Kysely } from 'kysely';
import type { Database, GroupsTable } from '../db/schema.js';
import { now } from '../ids.js';
import { type JsonObject, parseJson } from './json.js';

/**
 * Groups and their legacy ro/rw/admin permissions (inherited by every project of the group): the
 * rows, and the documents routes answer with (`{_id, access}` permissions, as Flywheel's Group).
 */

export interface GroupPermission {
  _id: string;
  access: string;
}

const permissionDoc = (p: { user_id: string; access: string }): GroupPermission => ({ _id: p.user_id, access: p.access });

/** The group document (with info) of one group, or undefined when there is none. */
export async function groupDoc(db: Kysely<Database>, id: string): Promise<JsonObject | undefined> {
  const g = await db.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
  if (!g) return undefined;
  const perms = await db
    .selectFrom('group_permissions')
    .select(['user_id', 'access'])
    .where('group_id', '=', id)
    .orderBy('user_id')
    .execute();
  return {
    _id: g.id,
    label: g.label,
    info: parseJson<JsonObject>(g.info, {}),
    tags: parseJson<string[]>(g.tags, []),
    permissions: perms.map(permissionDoc),
    created: g.created,
    modified: g.modified,
  };
}

/** The query a group listing pages through (runList adds filter, sort and paging): all groups, or those named. */
export function groupsQuery(db: Kysely<Database>, only?: string[]) {
  const q = db.selectFrom('groups').selectAll();
  return only ? q.where('id', 'in', only) : q;
}

/** Listing documents of a page of group rows: no info, with their permissions. */
export async function groupListDocs(db: Kysely<Database>, rows: GroupsTable[]): Promise<JsonObject[]> {
  const perms = rows.length
    ? await db
        .selectFrom('group_permissions')
        .selectAll()
        .where(
          'group_id',
          'in',
          rows.map((r) => r.id),
        )
        .execute()
    : [];
  return rows.map((g) => ({
    _id: g.id,
    label: g.label,
    tags: parseJson<string[]>(g.tags, []),
    permissions: perms.filter((p) => p.group_id === g.id).map(permissionDoc),
    created: g.created,
    modified: g.modified,
  }));
}

export async function groupExists(db: Kysely<Database>, id: string): Promise<boolean> {
  return (await db.selectFrom('groups').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
}

/** A new group with its creator as its admin, in one transaction. */
export async function insertGroup(db: Kysely<Database>, g: { id: string; label: string; tags: string[] }, adminId: string): Promise<void> {
  const stamp = now();
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('groups')
      .values({ id: g.id, label: g.label, info: '{}', tags: JSON.stringify(g.tags), created: stamp, modified: stamp })
      .execute();
    await trx.insertInto('group_permissions').values({ group_id: g.id, user_id: adminId, access: 'admin' }).execute();
  });
}

export async function updateGroup(db: Kysely<Database>, id: string, patch: { label?: string; tags?: string[] }): Promise<void> {
  await db
    .updateTable('groups')
    .set({ ...(patch.label ? { label: patch.label } : {}), ...(patch.tags ? { tags: JSON.stringify(patch.tags) } : {}), modified: now() })
    .where('id', '=', id)
    .execute();
}

export async function groupHasProjects(db: Kysely<Database>, id: string): Promise<boolean> {
  return (await db.selectFrom('containers').select('id').where('group_id', '=', id).limit(1).executeTakeFirst()) !== undefined;
}

export async function deleteGroup(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom('group_permissions').where('group_id', '=', id).execute();
  await db.deleteFrom('groups').where('id', '=', id).execute();
}

/** The tags of an existing group. */
export async function groupTags(db: Kysely<Database>, id: string): Promise<string[]> {
  const g = await db.selectFrom('groups').select('tags').where('id', '=', id).executeTakeFirstOrThrow();
  return parseJson<string[]>(g.tags, []);
}

export async function groupPermission(db: Kysely<Database>, id: string, uid: string): Promise<GroupPermission | undefined> {
  const p = await db
    .selectFrom('group_permissions')
    .select(['user_id', 'access'])
    .where('group_id', '=', id)
    .where('user_id', '=', uid)
    .executeTakeFirst();
  return p && permissionDoc(p);
}

/** The users holding admin access on a group. */
export async function groupAdmins(db: Kysely<Database>, id: string): Promise<string[]> {
  const rows = await db
    .selectFrom('group_permissions')
    .select('user_id')
    .where('group_id', '=', id)
    .where('access', '=', 'admin')
    .execute();
  return rows.map((r) => r.user_id);
}

export async function insertGroupPermission(db: Kysely<Database>, id: string, uid: string, access: GroupAccess): Promise<void> {
  await db.insertInto('group_permissions').values({ group_id: id, user_id: uid, access }).execute();
}

export async function setGroupPermission(db: Kysely<Database>, id: string, uid: string, access: GroupAccess): Promise<void> {
  await db
    .insertInto('group_permissions')
    .values({ group_id: id, user_id: uid, access })
    .onConflict((oc) => oc.columns(['group_id', 'user_id']).doUpdateSet({ access }))
    .execute();
}

/** Whether there was a permission to remove. */
export async function deleteGroupPermission(db: Kysely<Database>, id: string, uid: string): Promise<boolean> {
  const r = await db.deleteFrom('group_permissions').where('group_id', '=', id).where('user_id', '=', uid).executeTakeFirst();
  return Boolean(r.numDeletedRows);
}

/** An existing group as a path node (`POST /lookup`, `/resolve`): no info, no permissions. */
export async function groupNodeDoc(db: Kysely<Database>, id: string): Promise<JsonObject> {
  const g = await db.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  return { _id: g.id, label: g.label, tags: parseJson(g.tags, []), created: g.created, modified: g.modified };
}
