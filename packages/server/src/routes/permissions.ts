import { Type } from '@sinclair/typebox';
import { ACTIONS, type Action, BUILTIN_ROLES, GROUP_ACCESS, type GroupAccess, ROLE_BASELINE } from '@sprocket/types';
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { requirePrincipal } from '../auth/authenticate.js';
import { requireSiteAdmin } from '../auth/principal.js';
import { type ServerContext, accessOf } from '../context.js';
import { parseJson } from '../dao/json.js';
import type { Database, RolesTable } from '../db/schema.js';
import { badRequest, conflict, forbidden, notFound } from '../errors.js';
import { newId, now } from '../ids.js';
import { ROLE_ASSIGNMENT_TABLES, roleAssignmentRoutes } from './role-assignments.js';
import type { Api } from '../http/typed.js';

const roleParams = Type.Object({ rid: Type.String({ minLength: 1, maxLength: 64 }) });
const ROLE_LABEL = Type.String({ minLength: 1, maxLength: 64 });
const ACTION_LIST = Type.Array(Type.String(), { uniqueItems: true });
const newRoleBody = Type.Object({ label: ROLE_LABEL, actions: ACTION_LIST }, { additionalProperties: false });
const roleChangeBody = Type.Object({ label: Type.Optional(ROLE_LABEL), actions: Type.Optional(ACTION_LIST) }, { additionalProperties: false, minProperties: 1 });


/** Built-in roles exist on every site, with fixed ids matching the legacy access levels. */
export async function seedBuiltinRoles(db: Kysely<Database>): Promise<void> {
  const stamp = now();
  for (const [access, role] of Object.entries(BUILTIN_ROLES)) {
    await db
      .insertInto('roles')
      .values({ id: role.id, label: role.label, actions: JSON.stringify(role.actions), default_flywheel_role: access, created: stamp, modified: stamp })
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
  const rows = await db.selectFrom('group_permissions').select(['user_id', 'access']).where('group_id', '=', groupId).orderBy('user_id').execute();
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

function checkActions(actions: string[]): Action[] {
  const unknown = actions.filter((a) => !(ACTIONS as readonly string[]).includes(a));
  if (unknown.length) throw badRequest(`body.actions: unknown action(s) ${unknown.join(', ')}`);
  return [...new Set([...ROLE_BASELINE, ...(actions as Action[])])];
}

export async function permissionRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;
  await seedBuiltinRoles(db);

  async function roleDoc(r: RolesTable) {
    let inUse = false;
    for (const table of ROLE_ASSIGNMENT_TABLES) {
      const hit = await db
        .selectFrom(table)
        .select('user_id')
        .where(ctx.handle.dialect.jsonArrayContains('role_ids', r.id))
        .limit(1)
        .executeTakeFirst();
      inUse ||= Boolean(hit);
    }
    return { _id: r.id, label: r.label, actions: parseJson<string[]>(r.actions, []), default_flywheel_role: r.default_flywheel_role, in_use: inUse };
  }
  async function loadRole(rid: string) {
    const r = await db.selectFrom('roles').selectAll().where('id', '=', rid).executeTakeFirst();
    if (!r) throw notFound(`role ${rid}`);
    return r;
  }
  function requireAdmin(req: FastifyRequest) {
    requireSiteAdmin(requirePrincipal(req));
  }

  const t = { tags: ['roles'] };
  app.get('/roles', { schema: { ...t, summary: 'All roles' } }, async (req) => {
    requirePrincipal(req);
    const rows = await db.selectFrom('roles').selectAll().orderBy('created').orderBy('id').execute();
    return Promise.all(rows.map(roleDoc));
  });
  app.get('/roles/actions', { schema: { ...t, summary: 'Every action a role may grant' } }, async (req) => {
    requirePrincipal(req);
    return ACTIONS;
  });
  app.post('/roles', { schema: { ...t, summary: 'Create a role (site admin)', body: newRoleBody } }, async (req) => {
    requireAdmin(req);
    const b = req.body;
    const actions = checkActions(b.actions);
    if (await db.selectFrom('roles').select('id').where('label', '=', b.label).executeTakeFirst()) throw conflict(`role '${b.label}' already exists`);
    const stamp = now();
    const id = newId();
    await db.insertInto('roles').values({ id, label: b.label, actions: JSON.stringify(actions), default_flywheel_role: null, created: stamp, modified: stamp }).execute();
    return { _id: id };
  });
  app.get('/roles/:rid', { schema: { ...t, params: roleParams } }, async (req) => {
    requirePrincipal(req);
    return roleDoc(await loadRole(req.params.rid));
  });
  app.put('/roles/:rid', { schema: { ...t, params: roleParams, body: roleChangeBody } }, async (req) => {
    requireAdmin(req);
    const r = await loadRole(req.params.rid);
    if (r.default_flywheel_role) throw forbidden(`built-in role '${r.label}' cannot be changed`);
    const b = req.body;
    if (b.label && b.label !== r.label && (await db.selectFrom('roles').select('id').where('label', '=', b.label).executeTakeFirst())) {
      throw conflict(`role '${b.label}' already exists`);
    }
    await db
      .updateTable('roles')
      .set({ ...(b.label ? { label: b.label } : {}), ...(b.actions ? { actions: JSON.stringify(checkActions(b.actions)) } : {}), modified: now() })
      .where('id', '=', r.id)
      .execute();
    return { modified: 1 };
  });
  app.delete('/roles/:rid', { schema: { ...t, params: roleParams } }, async (req) => {
    requireAdmin(req);
    const r = await loadRole(req.params.rid);
    if (r.default_flywheel_role) throw forbidden(`built-in role '${r.label}' cannot be deleted`);
    if ((await roleDoc(r)).in_use) throw conflict(`role '${r.label}' is assigned on a project or collection; remove those assignments first`);
    await db.deleteFrom('roles').where('id', '=', r.id).execute();
    return { deleted: 1 };
  });

  // Project permissions: role assignments per user.
  roleAssignmentRoutes(app, db, {
    plural: 'projects',
    noun: 'project',
    table: 'project_permissions',
    column: 'project_id',
    require: (req, id, action) => accessOf(ctx, req).requireContainer('project', id, action),
  });
}
