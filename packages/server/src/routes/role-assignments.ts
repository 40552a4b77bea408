import { type Static, Type } from '@sinclair/typebox';
import { BUILTIN_ROLES, GROUP_ACCESS, type GroupAccess } from '@sprocket/types';
import type { FastifyRequest } from 'fastify';
import {
  deleteRoleAssignment,
  insertRoleAssignment,
  roleAssignmentOf,
  roleAssignmentsOf,
  setRoleAssignment,
} from '../dao/role-assignments.js';
import { unknownRoles } from '../dao/roles.js';
import type { Db } from '../dao/rows.js';
import { userExists } from '../dao/users.js';
import { apiError, badRequest, conflict, notFound } from '../errors.js';
import type { Api } from '../http/typed.js';
import { idParams, OBJECT_ID_SCHEMA } from './schemas.js';

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

export function roleAssignmentRoutes(app: Api, db: Db, target: RoleAssignmentTarget): void {
  const { plural, noun } = target;
  const pt = { tags: [plural, 'permissions'] };

  // A legacy `access` names the built-in role of that id.
  async function roleIdsFrom(b: PermBody): Promise<string[]> {
    const ids = b.role_ids ?? (b.access ? [BUILTIN_ROLES[b.access].id] : undefined);
    if (!ids) throw badRequest("body needs 'role_ids' (or legacy 'access')");
    const missing = await unknownRoles(db, ids);
    if (missing.length) throw badRequest(`body.role_ids: unknown role(s) ${missing.join(', ')}`);
    return ids;
  }
  async function requireUser(uid: string) {
    if (!(await userExists(db, uid))) throw apiError('USER_NOT_FOUND', { id: uid });
  }

  app.get(`/${plural}/:id/permissions`, { schema: { ...pt, params: idParams } }, async (req) => {
    const c = await target.require(req, req.params.id, 'project_permissions_view');
    return (await roleAssignmentsOf(db, noun, [c.id])).get(c.id) ?? [];
  });
  app.post(`/${plural}/:id/permissions`, { schema: { ...pt, params: idParams, body: newPermBody } }, async (req) => {
    const c = await target.require(req, req.params.id, 'project_permissions_manage');
    const b = req.body;
    await requireUser(b._id);
    const roleIds = await roleIdsFrom(b);
    if (await roleAssignmentOf(db, noun, c.id, b._id))
      throw conflict(`user ${b._id} already has a permission on ${noun} ${c.id}; use PUT to change it`);
    await insertRoleAssignment(db, noun, c.id, b._id, roleIds);
    return { modified: 1 };
  });
  app.get(`/${plural}/:id/permissions/:uid`, { schema: { ...pt, params: permParams } }, async (req) => {
    const { id, uid } = req.params;
    await target.require(req, id, 'project_permissions_view');
    const p = await roleAssignmentOf(db, noun, id, uid);
    if (!p) throw notFound(`permission for ${uid} on ${noun} ${id}`);
    return p;
  });
  app.put(`/${plural}/:id/permissions/:uid`, { schema: { ...pt, params: permParams, body: permBody } }, async (req) => {
    const { id, uid } = req.params;
    await target.require(req, id, 'project_permissions_manage');
    const b = req.body;
    if (b._id && b._id !== uid) throw badRequest(`body._id '${b._id}' does not match the user in the path '${uid}'`);
    await requireUser(uid);
    await setRoleAssignment(db, noun, id, uid, await roleIdsFrom(b));
    return { modified: 1 };
  });
  app.delete(`/${plural}/:id/permissions/:uid`, { schema: { ...pt, params: permParams } }, async (req) => {
    const { id, uid } = req.params;
    await target.require(req, id, 'project_permissions_manage');
    if (!(await deleteRoleAssignment(db, noun, id, uid))) throw notFound(`permission for ${uid} on ${noun} ${id}`);
    return { deleted: 1 };
  });
}
