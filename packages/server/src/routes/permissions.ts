import { ACTIONS, type Action, BUILTIN_ROLES, GROUP_ACCESS, type GroupAccess, ROLE_BASELINE } from '@sprocket/types';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { requirePrincipal } from '../auth/authenticate.js';
import { type ServerContext, accessOf } from '../context.js';
import { parseJson } from '../dao/json.js';
import type { Database, RolesTable } from '../db/schema.js';
import { badRequest, conflict, forbidden, notFound } from '../errors.js';
import { newId, now } from '../ids.js';
import { idParams, OBJECT_ID_SCHEMA } from './schemas.js';

const roleParams = { type: 'object', required: ['rid'], properties: { rid: { type: 'string', minLength: 1, maxLength: 64 } } } as const;
const roleBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    label: { type: 'string', minLength: 1, maxLength: 64 },
    actions: { type: 'array', items: { type: 'string' }, uniqueItems: true },
  },
} as const;
const permParams = { type: 'object', required: ['id', 'uid'], properties: { id: OBJECT_ID_SCHEMA, uid: { type: 'string', minLength: 1 } } } as const;
const permBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    _id: { type: 'string', minLength: 1 },
    role_ids: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, uniqueItems: true },
    access: { type: 'string', enum: [...GROUP_ACCESS] },
  },
} as const;

interface PermBody {
  _id?: string;
  role_ids?: string[];
  access?: GroupAccess;
}

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

export async function permissionRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;
  await seedBuiltinRoles(db);

  async function roleDoc(r: RolesTable) {
    const inUse = await db
      .selectFrom('project_permissions')
      .select('project_id')
      .where(ctx.handle.dialect.jsonArrayContains('role_ids', r.id))
      .limit(1)
      .executeTakeFirst();
    return { _id: r.id, label: r.label, actions: parseJson<string[]>(r.actions, []), default_flywheel_role: r.default_flywheel_role, in_use: Boolean(inUse) };
  }
  async function loadRole(rid: string) {
    const r = await db.selectFrom('roles').selectAll().where('id', '=', rid).executeTakeFirst();
    if (!r) throw notFound(`role ${rid}`);
    return r;
  }
  function requireAdmin(req: FastifyRequest) {
    const p = requirePrincipal(req);
    if (!p.isAdmin || p.readOnly) throw forbidden('site_admin role required');
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
  app.post('/roles', { schema: { ...t, summary: 'Create a role (site admin)', body: { ...roleBody, required: ['label', 'actions'] } } }, async (req) => {
    requireAdmin(req);
    const b = req.body as { label: string; actions: string[] };
    const actions = checkActions(b.actions);
    if (await db.selectFrom('roles').select('id').where('label', '=', b.label).executeTakeFirst()) throw conflict(`role '${b.label}' already exists`);
    const stamp = now();
    const id = newId();
    await db.insertInto('roles').values({ id, label: b.label, actions: JSON.stringify(actions), default_flywheel_role: null, created: stamp, modified: stamp }).execute();
    return { _id: id };
  });
  app.get('/roles/:rid', { schema: { ...t, params: roleParams } }, async (req) => {
    requirePrincipal(req);
    return roleDoc(await loadRole((req.params as { rid: string }).rid));
  });
  app.put('/roles/:rid', { schema: { ...t, params: roleParams, body: { ...roleBody, minProperties: 1 } } }, async (req) => {
    requireAdmin(req);
    const r = await loadRole((req.params as { rid: string }).rid);
    if (r.default_flywheel_role) throw forbidden(`built-in role '${r.label}' cannot be changed`);
    const b = req.body as { label?: string; actions?: string[] };
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
    const r = await loadRole((req.params as { rid: string }).rid);
    if (r.default_flywheel_role) throw forbidden(`built-in role '${r.label}' cannot be deleted`);
    if ((await roleDoc(r)).in_use) throw conflict(`role '${r.label}' is assigned on a project; remove those assignments first`);
    await db.deleteFrom('roles').where('id', '=', r.id).execute();
    return { deleted: 1 };
  });

  // Project permissions: role assignments per user.
  const pt = { tags: ['projects', 'permissions'] };
  async function roleIdsFrom(b: PermBody): Promise<string[]> {
    const ids = b.role_ids ?? (b.access ? [BUILTIN_ROLES[b.access].id] : undefined);
    if (!ids) throw badRequest("body needs 'role_ids' (or legacy 'access')");
    const found = await db.selectFrom('roles').select('id').where('id', 'in', ids).execute();
    const missing = ids.filter((id) => !found.some((f) => f.id === id));
    if (missing.length) throw badRequest(`body.role_ids: unknown role(s) ${missing.join(', ')}`);
    return ids;
  }
  async function userExists(uid: string) {
    if (!(await db.selectFrom('users').select('id').where('id', '=', uid).executeTakeFirst())) throw notFound(`user ${uid}`);
  }
  const permDoc = (p: { user_id: string; role_ids: string }) => ({ _id: p.user_id, role_ids: parseJson<string[]>(p.role_ids, []) });

  app.get('/projects/:id/permissions', { schema: { ...pt, params: idParams } }, async (req) => {
    const project = await accessOf(ctx, req).requireContainer('project', (req.params as { id: string }).id, 'project_permissions_view');
    const rows = await db.selectFrom('project_permissions').selectAll().where('project_id', '=', project.id).orderBy('user_id').execute();
    return rows.map(permDoc);
  });
  app.post('/projects/:id/permissions', { schema: { ...pt, params: idParams, body: { ...permBody, required: ['_id'] } } }, async (req) => {
    const project = await accessOf(ctx, req).requireContainer('project', (req.params as { id: string }).id, 'project_permissions_manage');
    const b = req.body as PermBody;
    await userExists(b._id!);
    const roleIds = await roleIdsFrom(b);
    const existing = await db.selectFrom('project_permissions').select('user_id').where('project_id', '=', project.id).where('user_id', '=', b._id!).executeTakeFirst();
    if (existing) throw conflict(`user ${b._id} already has a permission on project ${project.id}; use PUT to change it`);
    await db.insertInto('project_permissions').values({ project_id: project.id, user_id: b._id!, role_ids: JSON.stringify(roleIds) }).execute();
    return { modified: 1 };
  });
  app.get('/projects/:id/permissions/:uid', { schema: { ...pt, params: permParams } }, async (req) => {
    const { id, uid } = req.params as { id: string; uid: string };
    await accessOf(ctx, req).requireContainer('project', id, 'project_permissions_view');
    const p = await db.selectFrom('project_permissions').selectAll().where('project_id', '=', id).where('user_id', '=', uid).executeTakeFirst();
    if (!p) throw notFound(`permission for ${uid} on project ${id}`);
    return permDoc(p);
  });
  app.put('/projects/:id/permissions/:uid', { schema: { ...pt, params: permParams, body: permBody } }, async (req) => {
    const { id, uid } = req.params as { id: string; uid: string };
    await accessOf(ctx, req).requireContainer('project', id, 'project_permissions_manage');
    const b = req.body as PermBody;
    if (b._id && b._id !== uid) throw badRequest(`body._id '${b._id}' does not match the user in the path '${uid}'`);
    await userExists(uid);
    const roleIds = JSON.stringify(await roleIdsFrom(b));
    await db
      .insertInto('project_permissions')
      .values({ project_id: id, user_id: uid, role_ids: roleIds })
      .onConflict((oc) => oc.columns(['project_id', 'user_id']).doUpdateSet({ role_ids: roleIds }))
      .execute();
    return { modified: 1 };
  });
  app.delete('/projects/:id/permissions/:uid', { schema: { ...pt, params: permParams } }, async (req) => {
    const { id, uid } = req.params as { id: string; uid: string };
    await accessOf(ctx, req).requireContainer('project', id, 'project_permissions_manage');
    const r = await db.deleteFrom('project_permissions').where('project_id', '=', id).where('user_id', '=', uid).executeTakeFirst();
    if (!r.numDeletedRows) throw notFound(`permission for ${uid} on project ${id}`);
    return { deleted: 1 };
  });
}
