import { BUILTIN_ROLES, GROUP_ACCESS, type GroupAccess } from '@sprocket/types';
import type { Kysely } from 'kysely';
import type { SqlDialect } from '../db/dialect.js';
import type { Database, RolesTable } from '../db/schema.js';
import { newId, now } from '../ids.js';
import { type JsonObject, parseJson } from './json.js';
import { ROLE_ASSIGNMENT_TABLES } from './role-assignments.js';

/** Roles (named sets of actions) and the copies of group access a new project starts with. */

/** Built-in roles exist on every site, with fixed ids matching the legacy access levels. */
export async function seedBuiltinRoles(db: Kysely<Database>): Promise<void> {
  const stamp = now();
  for (const [access, role] of Object.entries(BUILTIN_ROLES)) {
    await db
      .insertInto('roles')
      .values({
        id: role.id,
        label: role.label,
        actions: JSON.stringify(role.actions),
        default_flywheel_role: access,
        created: stamp,
        modified: stamp,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }
}

/**
 * A new project starts with its group's permissions copied in as project role assignments (group
 * access `ro`/`rw`/`admin` → the built-in role of that id), as Flywheel does: `GET
 * /projects/{id}/permissions/{uid}` then finds the group's members, and their `role_ids` resolve
 * through `/roles`. Group access keeps applying to the group's projects as before (auth/access.ts
 * joins both), so a group admin administers every project of the group whatever the copies say;
 * like Flywheel's, the copies are a snapshot that later group changes do not touch.
 *
 * Existing projects are not migrated: their group members already act on them through the group,
 * and copying today's group members into every old project would make those rights outlive a later
 * removal from the group, widening access without anyone asking for it.
 */
export async function copyGroupPermissions(db: Kysely<Database>, groupId: string, projectId: string): Promise<void> {
  const rows = await db
    .selectFrom('group_permissions')
    .select(['user_id', 'access'])
    .where('group_id', '=', groupId)
    .orderBy('user_id')
    .execute();
  const values = rows
    .filter((r) => (GROUP_ACCESS as readonly string[]).includes(r.access))
    .map((r) => ({ project_id: projectId, user_id: r.user_id, role_ids: JSON.stringify([BUILTIN_ROLES[r.access as GroupAccess].id]) }));
  if (!values.length) return;
  await db
    .insertInto('project_permissions')
    .values(values)
    .onConflict((oc) => oc.columns(['project_id', 'user_id']).doNothing())
    .execute();
}

/** Whether any project or collection assigns the role to someone. */
export async function roleInUse(db: Kysely<Database>, dialect: SqlDialect, roleId: string): Promise<boolean> {
  for (const { table } of Object.values(ROLE_ASSIGNMENT_TABLES)) {
    const hit = await db
      .selectFrom(table)
      .select('user_id')
      .where(dialect.jsonArrayContains('role_ids', roleId))
      .limit(1)
      .executeTakeFirst();
    if (hit) return true;
  }
  return false;
}

/** The role document, as Flywheel's RoleOutput plus whether it is assigned anywhere. */
export async function roleDoc(db: Kysely<Database>, dialect: SqlDialect, r: RolesTable): Promise<JsonObject> {
  const inUse = await roleInUse(db, dialect, r.id);
  return {
    _id: r.id,
    label: r.label,
    actions: parseJson<string[]>(r.actions, []),
    default_flywheel_role: r.default_flywheel_role,
    in_use: inUse,
  };
}

export async function getRole(db: Kysely<Database>, rid: string): Promise<RolesTable | undefined> {
  return db.selectFrom('roles').selectAll().where('id', '=', rid).executeTakeFirst();
}

export async function allRoles(db: Kysely<Database>): Promise<RolesTable[]> {
  return db.selectFrom('roles').selectAll().orderBy('created').orderBy('id').execute();
}

export async function roleLabelTaken(db: Kysely<Database>, label: string): Promise<boolean> {
  return (await db.selectFrom('roles').select('id').where('label', '=', label).executeTakeFirst()) !== undefined;
}

/** A new custom role; answers its id. */
export async function insertRole(db: Kysely<Database>, label: string, actions: string[]): Promise<string> {
  const stamp = now();
  const id = newId();
  await db
    .insertInto('roles')
    .values({ id, label, actions: JSON.stringify(actions), default_flywheel_role: null, created: stamp, modified: stamp })
    .execute();
  return id;
}

export async function updateRole(db: Kysely<Database>, id: string, patch: { label?: string; actions?: string[] }): Promise<void> {
  await db
    .updateTable('roles')
    .set({
      ...(patch.label ? { label: patch.label } : {}),
      ...(patch.actions ? { actions: JSON.stringify(patch.actions) } : {}),
      modified: now(),
    })
    .where('id', '=', id)
    .execute();
}

export async function deleteRole(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom('roles').where('id', '=', id).execute();
}

/** Which of these role ids name no role. */
export async function unknownRoles(db: Kysely<Database>, ids: string[]): Promise<string[]> {
  const found = await db.selectFrom('roles').select('id').where('id', 'in', ids).execute();
  return ids.filter((id) => !found.some((f) => f.id === id));
}
