import { Type } from '@sinclair/typebox';
import { GROUP_ACCESS, type GroupAccess } from '@sprocket/types';
import { requireSiteRole } from '../auth/principal.js';
import { accessOf, type ServerContext } from '../context.js';
import {
  deleteGroup,
  deleteGroupPermission,
  groupAdmins,
  groupDoc,
  groupExists,
  groupHasProjects,
  groupListDocs,
  groupPermission,
  groupsQuery,
  groupTags,
  insertGroup,
  insertGroupPermission,
  setGroupPermission,
  updateGroup,
} from '../dao/groups.js';
import { userExists } from '../dao/users.js';
import { apiError, badRequest, conflict, notFound } from '../errors.js';
import type { FieldResolver } from '../http/filters.js';
import { listQuery, listReply, parseListParams, runList } from '../http/listing.js';
import type { Api } from '../http/typed.js';
import { GROUP_ID_SCHEMA, groupParams, NO_CONTROL_CHARACTERS, TAGS, tagBody } from './schemas.js';

const permParams = Type.Object({ id: GROUP_ID_SCHEMA, uid: Type.String({ minLength: 1 }) });
const GROUP_LABEL = Type.String({ minLength: 1, maxLength: 64, format: NO_CONTROL_CHARACTERS });
const ACCESS = Type.Unsafe<GroupAccess>({ type: 'string', enum: [...GROUP_ACCESS] });
const accessBody = Type.Object({ _id: Type.Optional(Type.String({ minLength: 1 })), access: ACCESS }, { additionalProperties: false });
const newAccessBody = Type.Object({ _id: Type.String({ minLength: 1 }), access: ACCESS }, { additionalProperties: false });

const resolveGroupField: FieldResolver = (key) => {
  if (key === '_id' || key === 'id') return { kind: 'column', column: 'id' };
  if (key === 'label' || key === 'created' || key === 'modified') return { kind: 'column', column: key };
  if (key === 'tags') return { kind: 'array', column: 'tags' };
  if (key.startsWith('info.')) return { kind: 'json', column: 'info', path: key.slice(5).split('.') };
  return undefined;
};

export async function groupRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;
  const t = { tags: ['groups'] };

  async function requireGroupDoc(id: string) {
    const doc = await groupDoc(db, id);
    if (!doc) throw apiError('GROUP_NOT_FOUND', { id });
    return doc;
  }

  app.get('/groups', { schema: { ...t, querystring: listQuery } }, async (req) => {
    const access = accessOf(ctx, req);
    const params = parseListParams(req);
    const visible = await access.groupScope();
    if (visible && !visible.length) return listReply(params, [], 0);
    const { rows, total } = await runList(groupsQuery(db, visible), params, ctx.handle.dialect, resolveGroupField);
    return listReply(params, await groupListDocs(db, rows), total);
  });

  app.post(
    '/groups',
    {
      schema: {
        ...t,
        summary: 'Create a group (site admin or developer)',
        body: Type.Object(
          { _id: GROUP_ID_SCHEMA, label: Type.Optional(GROUP_LABEL), tags: Type.Optional(TAGS) },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const access = accessOf(ctx, req);
      const p = access.principal;
      requireSiteRole(p, 'developer', 'creating groups');
      const b = req.body;
      try {
        await insertGroup(db, { id: b._id, label: b.label ?? b._id, tags: b.tags ?? [] }, p.userId);
      } catch (e) {
        if (await groupExists(db, b._id)) throw apiError('GROUP_EXISTS', { id: b._id });
        throw e;
      }
      return { _id: b._id };
    },
  );

  app.get('/groups/:id', { schema: { ...t, params: groupParams } }, async (req) => {
    const { id } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'visible');
    return requireGroupDoc(id);
  });

  app.put(
    '/groups/:id',
    {
      schema: {
        ...t,
        params: groupParams,
        body: Type.Object(
          { label: Type.Optional(GROUP_LABEL), tags: Type.Optional(TAGS) },
          { additionalProperties: false, minProperties: 1 },
        ),
      },
    },
    async (req) => {
      const { id } = req.params;
      await accessOf(ctx, req).requireGroup(id, 'rw');
      const b = req.body;
      await updateGroup(db, id, b);
      return { modified: 1 };
    },
  );

  app.delete('/groups/:id', { schema: { ...t, params: groupParams } }, async (req) => {
    const { id } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'admin');
    if (await groupHasProjects(db, id)) throw conflict(`group ${id} still has projects; delete them first`);
    await deleteGroup(db, id);
    return { deleted: 1 };
  });

  app.post('/groups/:id/tags', { schema: { ...t, params: groupParams, body: tagBody } }, async (req) => {
    const { id } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'rw');
    const { value } = req.body;
    const tags = await groupTags(db, id);
    if (tags.includes(value)) throw apiError('TAG_EXISTS', { tag: value, type: 'group', id });
    await updateGroup(db, id, { tags: [...tags, value] });
    return { modified: 1 };
  });

  // Group permissions: legacy ro/rw/admin access, inherited by every project of the group.
  app.get('/groups/:id/permissions', { schema: { ...t, params: groupParams } }, async (req) => {
    const { id } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'visible');
    return (await requireGroupDoc(id)).permissions;
  });

  async function requireUser(uid: string) {
    if (!(await userExists(db, uid))) throw apiError('USER_NOT_FOUND', { id: uid });
  }
  async function refuseLastAdmin(id: string, uid: string) {
    const admins = await groupAdmins(db, id);
    if (admins.length === 1 && admins[0] === uid) throw conflict(`${uid} is the last admin of group ${id}`);
  }

  app.post('/groups/:id/permissions', { schema: { ...t, params: groupParams, body: newAccessBody } }, async (req) => {
    const { id } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'admin');
    const b = req.body;
    await requireUser(b._id);
    if (await groupPermission(db, id, b._id)) throw conflict(`user ${b._id} already has a permission on group ${id}; use PUT to change it`);
    await insertGroupPermission(db, id, b._id, b.access);
    return { modified: 1 };
  });

  app.get('/groups/:id/permissions/:uid', { schema: { ...t, params: permParams } }, async (req) => {
    const { id, uid } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'visible');
    const p = await groupPermission(db, id, uid);
    if (!p) throw notFound(`permission for ${uid} on group ${id}`);
    return p;
  });

  app.put('/groups/:id/permissions/:uid', { schema: { ...t, params: permParams, body: accessBody } }, async (req) => {
    const { id, uid } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'admin');
    const b = req.body;
    if (b._id && b._id !== uid) throw badRequest(`body._id '${b._id}' does not match the user in the path '${uid}'`);
    await requireUser(uid);
    if (b.access !== 'admin') await refuseLastAdmin(id, uid);
    await setGroupPermission(db, id, uid, b.access);
    return { modified: 1 };
  });

  app.delete('/groups/:id/permissions/:uid', { schema: { ...t, params: permParams } }, async (req) => {
    const { id, uid } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'admin');
    await refuseLastAdmin(id, uid);
    if (!(await deleteGroupPermission(db, id, uid))) throw notFound(`permission for ${uid} on group ${id}`);
    return { deleted: 1 };
  });
}
