import { type Static, Type } from '@sinclair/typebox';
import { BUILTIN_ROLES, GROUP_ACCESS, type GroupAccess } from '@sprocket/types';
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { parseJson } from '../dao/json.js';
import type { Database } from '../db/schema.js';
import { badRequest, conflict, notFound, apiError } from '../errors.js';
import { idParams, OBJECT_ID_SCHEMA } from './schemas.js';
import type { Api } from '../http/typed.js';

/**
 * Role assignments per user on a project or a collection (Flywheel's `/{projects|collections}/{id}/permissions`):
 * both kinds keep them in a table of the same shape, so one set of routes serves both and a fix to
 * one is a fix to the other.
 */
export interface RoleAssignmentTarget {
  plural: 'projects' | 'collections';
  noun: 'project' | 'collection';
  table: 'project_permissions' | 'collection_permissions';
  column: 'project_id' | 'collection_id';
  /** Throws unless the caller may do `action` on the container with this id; answers its id. */
  require(req: FastifyRequest, id: string, action: 'project_permissions_view' | 'project_permissions_manage'): Promise<{ id: string }>;
}

const UID = Type.String({ minLength: 1, maxLength: 256 });
const permParams = Type.Object({ id: OBJECT_ID_SCHEMA, uid: UID });
const PERM_PROPS = {
  _id: Type.Optional(UID),
  role_ids: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 100, uniqueItems: true })),
  access: Type.Optional(Type.Unsafe<GroupAccess>({ type: 'string', enum: [...GROUP_ACCESS] })),
};
const permBody = Type.Object(PERM_PROPS, { additionalProperties: false });
const newPermBody = Type.Object({ ...PERM_PROPS, _id: UID }, { additionalProperties: false });
type PermBody = Static<typeof permBody>;


export function roleAssignmentRoutes(app: Api, db: Kysely<Database>, target: RoleAssignmentTarget): void {
  // The two tables differ only in the name of the container column; kysely is told it is the
  // project table so the queries type-check, while the real names go into the SQL.
  const table = target.table as 'project_permissions';
  const column = target.column as 'project_id';
  const { plural, noun } = target;
  const pt = { tags: [plural, 'permissions'] };
  const row = (id: string, uid: string, roleIds: string) => ({ [column]: id, user_id: uid, role_ids: roleIds }) as { project_id: string; user_id: string; role_ids: string };

  // A legacy `access` names the built-in role of that id.
  async function roleIdsFrom(b: PermBody): Promise<string[]> {
    const ids = b.role_ids ?? (b.access ? [BUILTIN_ROLES[b.access].id] : undefined);
    if (!ids) throw badRequest("body needs 'role_ids' (or legacy 'access')");
    const found = await db.selectFrom('roles').select('id').where('id', 'in', ids).execute();
    const missing = ids.filter((id) => !found.some((f) => f.id === id));
    if (missing.length) throw badRequest(`body.role_ids: unknown role(s) ${missing.join(', ')}`);
    return ids;
  }
  async function userExists(uid: string) {
    if (!(await db.selectFrom('users').select('id').where('id', '=', uid).executeTakeFirst())) throw apiError('USER_NOT_FOUND', { id: uid });
  }
  const permDoc = (p: { user_id: string; role_ids: string }) => ({ _id: p.user_id, role_ids: parseJson<string[]>(p.role_ids, []) });

  app.get(`/${plural}/:id/permissions`, { schema: { ...pt, params: idParams } }, async (req) => {
    const c = await target.require(req, req.params.id, 'project_permissions_view');
    const rows = await db.selectFrom(table).selectAll().where(column, '=', c.id).orderBy('user_id').execute();
    return rows.map(permDoc);
  });
  app.post(`/${plural}/:id/permissions`, { schema: { ...pt, params: idParams, body: newPermBody } }, async (req) => {
    const c = await target.require(req, req.params.id, 'project_permissions_manage');
    const b = req.body;
    await userExists(b._id);
    const roleIds = await roleIdsFrom(b);
    const existing = await db.selectFrom(table).select('user_id').where(column, '=', c.id).where('user_id', '=', b._id).executeTakeFirst();
    if (existing) throw conflict(`user ${b._id} already has a permission on ${noun} ${c.id}; use PUT to change it`);
    await db.insertInto(table).values(row(c.id, b._id, JSON.stringify(roleIds))).execute();
    return { modified: 1 };
  });
  app.get(`/${plural}/:id/permissions/:uid`, { schema: { ...pt, params: permParams } }, async (req) => {
    const { id, uid } = req.params;
    await target.require(req, id, 'project_permissions_view');
    const p = await db.selectFrom(table).selectAll().where(column, '=', id).where('user_id', '=', uid).executeTakeFirst();
    if (!p) throw notFound(`permission for ${uid} on ${noun} ${id}`);
    return permDoc(p);
  });
  app.put(`/${plural}/:id/permissions/:uid`, { schema: { ...pt, params: permParams, body: permBody } }, async (req) => {
    const { id, uid } = req.params;
    await target.require(req, id, 'project_permissions_manage');
    const b = req.body;
    if (b._id && b._id !== uid) throw badRequest(`body._id '${b._id}' does not match the user in the path '${uid}'`);
    await userExists(uid);
    const roleIds = JSON.stringify(await roleIdsFrom(b));
    await db
      .insertInto(table)
      .values(row(id, uid, roleIds))
      .onConflict((oc) => oc.columns([column, 'user_id']).doUpdateSet({ role_ids: roleIds }))
      .execute();
    return { modified: 1 };
  });
  app.delete(`/${plural}/:id/permissions/:uid`, { schema: { ...pt, params: permParams } }, async (req) => {
    const { id, uid } = req.params;
    await target.require(req, id, 'project_permissions_manage');
    const r = await db.deleteFrom(table).where(column, '=', id).where('user_id', '=', uid).executeTakeFirst();
    if (!Number(r.numDeletedRows)) throw notFound(`permission for ${uid} on ${noun} ${id}`);
    return { deleted: 1 };
  });
}
