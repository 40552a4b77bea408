import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { type JsonObject, parseJson } from './json.js';

/** The tables holding role assignments per user, by the kind of container they belong to. */
export const ROLE_ASSIGNMENT_TABLES = {
  project: { table: 'project_permissions', column: 'project_id' },
  collection: { table: 'collection_permissions', column: 'collection_id' },
} as const;

/**
 * Role assignments of each container, `[{_id, role_ids}]` as on Flywheel's Project and Collection
 * models, read 500 ids at a time so a listing page costs a few queries, not one per row.
 */
export async function roleAssignmentsOf(
  db: Kysely<Database>,
  kind: keyof typeof ROLE_ASSIGNMENT_TABLES,
  ids: string[],
): Promise<Map<string, JsonObject[]>> {
  // The two tables differ only in the container column's name: kysely is told it is the project
  // table so the query type-checks, while the real names go into the SQL.
  const table = ROLE_ASSIGNMENT_TABLES[kind].table as 'project_permissions';
  const column = ROLE_ASSIGNMENT_TABLES[kind].column as 'project_id';
  const out = new Map<string, JsonObject[]>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db
      .selectFrom(table)
      .select([`${column} as container_id`, 'user_id', 'role_ids'])
      .where(column, 'in', ids.slice(i, i + 500))
      .orderBy('user_id')
      .execute();
    for (const p of rows) {
      const list = out.get(p.container_id) ?? [];
      list.push({ _id: p.user_id, role_ids: parseJson<string[]>(p.role_ids, []) });
      out.set(p.container_id, list);
    }
  }
  return out;
}

type Kind = keyof typeof ROLE_ASSIGNMENT_TABLES;
/** The real table and column of a kind, typed as the project table's (see roleAssignmentsOf). */
function tableOf(kind: Kind) {
  return {
    table: ROLE_ASSIGNMENT_TABLES[kind].table as 'project_permissions',
    column: ROLE_ASSIGNMENT_TABLES[kind].column as 'project_id',
  };
}
const assignmentRow = (column: string, id: string, uid: string, roleIds: string[]) =>
  ({ [column]: id, user_id: uid, role_ids: JSON.stringify(roleIds) }) as { project_id: string; user_id: string; role_ids: string };

/** One user's role assignment on a container, `{_id, role_ids}`, if there is one. */
export async function roleAssignmentOf(db: Kysely<Database>, kind: Kind, id: string, uid: string): Promise<JsonObject | undefined> {
  const { table, column } = tableOf(kind);
  const p = await db.selectFrom(table).select(['user_id', 'role_ids']).where(column, '=', id).where('user_id', '=', uid).executeTakeFirst();
  return p && { _id: p.user_id, role_ids: parseJson<string[]>(p.role_ids, []) };
}

export async function insertRoleAssignment(db: Kysely<Database>, kind: Kind, id: string, uid: string, roleIds: string[]): Promise<void> {
  const { table, column } = tableOf(kind);
  await db
    .insertInto(table)
    .values(assignmentRow(column, id, uid, roleIds))
    .execute();
}

/** Sets a user's roles on a container, whether or not they had some. */
export async function setRoleAssignment(db: Kysely<Database>, kind: Kind, id: string, uid: string, roleIds: string[]): Promise<void> {
  const { table, column } = tableOf(kind);
  await db
    .insertInto(table)
    .values(assignmentRow(column, id, uid, roleIds))
    .onConflict((oc) => oc.columns([column, 'user_id']).doUpdateSet({ role_ids: JSON.stringify(roleIds) }))
    .execute();
}

/** Whether there was an assignment to remove. */
export async function deleteRoleAssignment(db: Kysely<Database>, kind: Kind, id: string, uid: string): Promise<boolean> {
  const { table, column } = tableOf(kind);
  const r = await db.deleteFrom(table).where(column, '=', id).where('user_id', '=', uid).executeTakeFirst();
  return Boolean(Number(r.numDeletedRows));
}
