import { Type } from '@sinclair/typebox';
import { ACTIONS, type Action, ROLE_BASELINE } from '@sprocket/types';
import type { FastifyRequest } from 'fastify';
import { requirePrincipal } from '../auth/authenticate.js';
import { requireSiteAdmin } from '../auth/principal.js';
import { accessOf, type ServerContext } from '../context.js';
import {
  allRoles,
  deleteRole,
  getRole,
  insertRole,
  roleDoc as roleDocOf,
  roleInUse,
  roleLabelTaken,
  seedBuiltinRoles,
  updateRole,
} from '../dao/roles.js';
import type { RolesTable } from '../dao/rows.js';
import { badRequest, conflict, forbidden, notFound } from '../errors.js';
import type { Api } from '../http/typed.js';
import { roleAssignmentRoutes } from './role-assignments.js';

const roleParams = Type.Object({ rid: Type.String({ minLength: 1, maxLength: 64 }) });
const ROLE_LABEL = Type.String({ minLength: 1, maxLength: 64 });
const ACTION_LIST = Type.Array(Type.String(), { uniqueItems: true });
const newRoleBody = Type.Object({ label: ROLE_LABEL, actions: ACTION_LIST }, { additionalProperties: false });
const roleChangeBody = Type.Object(
  { label: Type.Optional(ROLE_LABEL), actions: Type.Optional(ACTION_LIST) },
  { additionalProperties: false, minProperties: 1 },
);

function checkActions(actions: string[]): Action[] {
  const unknown = actions.filter((a) => !(ACTIONS as readonly string[]).includes(a));
  if (unknown.length) throw badRequest(`body.actions: unknown action(s) ${unknown.join(', ')}`);
  return [...new Set([...ROLE_BASELINE, ...(actions as Action[])])];
}

export async function permissionRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;
  await seedBuiltinRoles(db);

  const roleDoc = (r: RolesTable) => roleDocOf(db, ctx.handle.dialect, r);
  async function loadRole(rid: string) {
    const r = await getRole(db, rid);
    if (!r) throw notFound(`role ${rid}`);
    return r;
  }
  function requireAdmin(req: FastifyRequest) {
    requireSiteAdmin(requirePrincipal(req));
  }

  const t = { tags: ['roles'] };
  app.get('/roles', { schema: { ...t, summary: 'All roles' } }, async (req) => {
    requirePrincipal(req);
    return Promise.all((await allRoles(db)).map(roleDoc));
  });
  app.get('/roles/actions', { schema: { ...t, summary: 'Every action a role may grant' } }, async (req) => {
    requirePrincipal(req);
    return ACTIONS;
  });
  app.post('/roles', { schema: { ...t, summary: 'Create a role (site admin)', body: newRoleBody } }, async (req) => {
    requireAdmin(req);
    const b = req.body;
    const actions = checkActions(b.actions);
    if (await roleLabelTaken(db, b.label)) throw conflict(`role '${b.label}' already exists`);
    return { _id: await insertRole(db, b.label, actions) };
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
    if (b.label && b.label !== r.label && (await roleLabelTaken(db, b.label))) {
      throw conflict(`role '${b.label}' already exists`);
    }
    await updateRole(db, r.id, { label: b.label, actions: b.actions && checkActions(b.actions) });
    return { modified: 1 };
  });
  app.delete('/roles/:rid', { schema: { ...t, params: roleParams } }, async (req) => {
    requireAdmin(req);
    const r = await loadRole(req.params.rid);
    if (r.default_flywheel_role) throw forbidden(`built-in role '${r.label}' cannot be deleted`);
    if (await roleInUse(db, ctx.handle.dialect, r.id))
      throw conflict(`role '${r.label}' is assigned on a project or collection; remove those assignments first`);
    await deleteRole(db, r.id);
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
