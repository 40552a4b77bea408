import { Type } from '@sinclair/typebox';
import { GROUP_ACCESS, type GroupAccess } from '@sprocket/types';
import { requireSiteRole } from '../auth/principal.js';
import { type ServerContext, accessOf } from '../context.js';
import { parseJson } from '../dao/json.js';
import { badRequest, conflict, notFound, apiError } from '../errors.js';
import type { FieldResolver } from '../http/filters.js';
import { listQuery, listReply, parseListParams, runList } from '../http/listing.js';
import type { Api } from '../http/typed.js';
import { now } from '../ids.js';
import { GROUP_ID_SCHEMA, NO_CONTROL_CHARACTERS, TAGS, groupParams, tagBody } from './schemas.js';

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

  async function groupDoc(id: string) {
    const g = await db.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
    if (!g) throw apiError('GROUP_NOT_FOUND', { id });
    const perms = await db.selectFrom('group_permissions').select(['user_id', 'access']).where('group_id', '=', id).orderBy('user_id').execute();
    return {
      _id: g.id,
      label: g.label,
      info: parseJson(g.info, {}),
      tags: parseJson<string[]>(g.tags, []),
      permissions: perms.map((p) => ({ _id: p.user_id, access: p.access })),
      created: g.created,
      modified: g.modified,
    };
  }

  app.get('/groups', { schema: { ...t, querystring: listQuery } }, async (req) => {
    const access = accessOf(ctx, req);
    const params = parseListParams(req);
    let q = db.selectFrom('groups').selectAll();
    if (!access.isAdmin) {
      const visible = [...(await access.visibleProjectIds()).groups];
      if (!visible.length) return listReply(params, [], 0);
      q = q.where('id', 'in', visible);
    }
    const { rows, total } = await runList(q, params, ctx.handle.dialect, resolveGroupField);
    const perms = rows.length
      ? await db.selectFrom('group_permissions').selectAll().where('group_id', 'in', rows.map((r) => r.id)).execute()
      : [];
    const docs = rows.map((g) => ({
      _id: g.id,
      label: g.label,
      tags: parseJson<string[]>(g.tags, []),
      permissions: perms.filter((p) => p.group_id === g.id).map((p) => ({ _id: p.user_id, access: p.access })),
      created: g.created,
      modified: g.modified,
    }));
    return listReply(params, docs, total);
  });

  app.post(
    '/groups',
    {
      schema: {
        ...t,
        summary: 'Create a group (site admin or developer)',
        body: Type.Object({ _id: GROUP_ID_SCHEMA, label: Type.Optional(GROUP_LABEL), tags: Type.Optional(TAGS) }, { additionalProperties: false }),
      },
    },
    async (req) => {
      const access = accessOf(ctx, req);
      const p = access.principal;
      requireSiteRole(p, 'developer', 'creating groups');
      const b = req.body;
      const stamp = now();
      try {
        await db.transaction().execute(async (trx) => {
          await trx
            .insertInto('groups')
            .values({ id: b._id, label: b.label ?? b._id, info: '{}', tags: JSON.stringify(b.tags ?? []), created: stamp, modified: stamp })
            .execute();
          await trx.insertInto('group_permissions').values({ group_id: b._id, user_id: p.userId, access: 'admin' }).execute();
        });
      } catch (e) {
        if (await db.selectFrom('groups').select('id').where('id', '=', b._id).executeTakeFirst()) throw apiError('GROUP_EXISTS', { id: b._id });
        throw e;
      }
      return { _id: b._id };
    },
  );

  app.get('/groups/:id', { schema: { ...t, params: groupParams } }, async (req) => {
    const { id } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'visible');
    return groupDoc(id);
  });

  app.put(
    '/groups/:id',
    {
      schema: {
        ...t,
        params: groupParams,
        body: Type.Object({ label: Type.Optional(GROUP_LABEL), tags: Type.Optional(TAGS) }, { additionalProperties: false, minProperties: 1 }),
      },
    },
    async (req) => {
      const { id } = req.params;
      await accessOf(ctx, req).requireGroup(id, 'rw');
      const b = req.body;
      await db
        .updateTable('groups')
        .set({ ...(b.label ? { label: b.label } : {}), ...(b.tags ? { tags: JSON.stringify(b.tags) } : {}), modified: now() })
        .where('id', '=', id)
        .execute();
      return { modified: 1 };
    },
  );

  app.delete('/groups/:id', { schema: { ...t, params: groupParams } }, async (req) => {
    const { id } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'admin');
    const project = await db.selectFrom('containers').select('id').where('group_id', '=', id).limit(1).executeTakeFirst();
    if (project) throw conflict(`group ${id} still has projects; delete them first`);
    await db.deleteFrom('group_permissions').where('group_id', '=', id).execute();
    await db.deleteFrom('groups').where('id', '=', id).execute();
    return { deleted: 1 };
  });

  app.post('/groups/:id/tags', { schema: { ...t, params: groupParams, body: tagBody } }, async (req) => {
    const { id } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'rw');
    const { value } = req.body;
    const g = await db.selectFrom('groups').select('tags').where('id', '=', id).executeTakeFirstOrThrow();
    const tags = parseJson<string[]>(g.tags, []);
    if (tags.includes(value)) throw apiError('TAG_EXISTS', { tag: value, type: 'group', id });
    await db.updateTable('groups').set({ tags: JSON.stringify([...tags, value]), modified: now() }).where('id', '=', id).execute();
    return { modified: 1 };
  });

  // Group permissions: legacy ro/rw/admin access, inherited by every project of the group.
  app.get('/groups/:id/permissions', { schema: { ...t, params: groupParams } }, async (req) => {
    const { id } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'visible');
    return (await groupDoc(id)).permissions;
  });

  async function userExists(uid: string) {
    const u = await db.selectFrom('users').select('id').where('id', '=', uid).executeTakeFirst();
    if (!u) throw apiError('USER_NOT_FOUND', { id: uid });
  }

  app.post('/groups/:id/permissions', { schema: { ...t, params: groupParams, body: newAccessBody } }, async (req) => {
    const { id } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'admin');
    const b = req.body;
    await userExists(b._id);
    const existing = await db.selectFrom('group_permissions').select('user_id').where('group_id', '=', id).where('user_id', '=', b._id).executeTakeFirst();
    if (existing) throw conflict(`user ${b._id} already has a permission on group ${id}; use PUT to change it`);
    await db.insertInto('group_permissions').values({ group_id: id, user_id: b._id, access: b.access }).execute();
    return { modified: 1 };
  });

  app.get('/groups/:id/permissions/:uid', { schema: { ...t, params: permParams } }, async (req) => {
    const { id, uid } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'visible');
    const p = await db.selectFrom('group_permissions').select(['user_id', 'access']).where('group_id', '=', id).where('user_id', '=', uid).executeTakeFirst();
    if (!p) throw notFound(`permission for ${uid} on group ${id}`);
    return { _id: p.user_id, access: p.access };
  });

  app.put('/groups/:id/permissions/:uid', { schema: { ...t, params: permParams, body: accessBody } }, async (req) => {
    const { id, uid } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'admin');
    const b = req.body;
    if (b._id && b._id !== uid) throw badRequest(`body._id '${b._id}' does not match the user in the path '${uid}'`);
    await userExists(uid);
    if (b.access !== 'admin') {
      const admins = await db.selectFrom('group_permissions').select('user_id').where('group_id', '=', id).where('access', '=', 'admin').execute();
      if (admins.length === 1 && admins[0]!.user_id === uid) throw conflict(`${uid} is the last admin of group ${id}`);
    }
    await db
      .insertInto('group_permissions')
      .values({ group_id: id, user_id: uid, access: b.access })
      .onConflict((oc) => oc.columns(['group_id', 'user_id']).doUpdateSet({ access: b.access }))
      .execute();
    return { modified: 1 };
  });

  app.delete('/groups/:id/permissions/:uid', { schema: { ...t, params: permParams } }, async (req) => {
    const { id, uid } = req.params;
    await accessOf(ctx, req).requireGroup(id, 'admin');
    const admins = await db.selectFrom('group_permissions').select('user_id').where('group_id', '=', id).where('access', '=', 'admin').execute();
    if (admins.length === 1 && admins[0]!.user_id === uid) throw conflict(`${uid} is the last admin of group ${id}`);
    const r = await db.deleteFrom('group_permissions').where('group_id', '=', id).where('user_id', '=', uid).executeTakeFirst();
    if (!r.numDeletedRows) throw notFound(`permission for ${uid} on group ${id}`);
    return { deleted: 1 };
  });
}
