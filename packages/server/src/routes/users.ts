import { Type } from '@sinclair/typebox';
import { SITE_ROLES, type SiteRole } from '@sprocket/types';
import type { FastifyRequest } from 'fastify';
import { requirePrincipal } from '../auth/authenticate.js';
import { mayChangeUser, requireSiteAdmin, seesWholeUser } from '../auth/principal.js';
import type { ServerContext } from '../context.js';
import {
  createUser,
  disableUser,
  getUser,
  issueKey,
  keyStamps,
  revokeUserKey,
  updateUser,
  userDoc,
  userExists,
  userKeyDocs,
  usersQuery,
} from '../dao/users.js';
import { apiError, conflict, forbidden } from '../errors.js';
import type { FieldResolver } from '../http/filters.js';
import { listQuery, listReply, parseListParams, runList } from '../http/listing.js';
import type { Api } from '../http/typed.js';

const USER_ID = Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\s/:]+$' });
const KEY_ID = Type.String({ pattern: '^[0-9a-f]{24}$' });
const userParams = Type.Object({ uid: USER_ID });
const keyParams = Type.Object({ uid: USER_ID, kid: KEY_ID });
const USER_PROPS = {
  _id: Type.Optional(USER_ID),
  email: Type.Optional(Type.String({ minLength: 3, maxLength: 256, pattern: '^[^\\s@]+@[^\\s@]+$' })),
  firstname: Type.Optional(Type.String({ maxLength: 64 })),
  lastname: Type.Optional(Type.String({ maxLength: 64 })),
  roles: Type.Optional(Type.Array(Type.Unsafe<SiteRole>({ type: 'string', enum: [...SITE_ROLES] }), { maxItems: 3 })),
  disabled: Type.Optional(Type.Boolean()),
};
const userBody = Type.Object(USER_PROPS, { additionalProperties: false });
/** Creating a user names it: the same body with `_id` required (it keeps its place among the properties). */
const newUserBody = Type.Object({ ...USER_PROPS, _id: USER_ID }, { additionalProperties: false });
const keyBody = Type.Object({ label: Type.Optional(Type.String({ maxLength: 128 })) }, { additionalProperties: false });

const resolveUserField: FieldResolver = (key) => {
  if (key === '_id' || key === 'id') return { kind: 'column', column: 'id' };
  if (['email', 'firstname', 'lastname', 'created', 'modified'].includes(key)) return { kind: 'column', column: key };
  if (key === 'roles') return { kind: 'array', column: 'roles' };
  return undefined;
};

function requireAdmin(req: FastifyRequest) {
  return requireSiteAdmin(requirePrincipal(req));
}

export async function userRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;
  const t = { tags: ['users'] };

  async function loadUser(uid: string) {
    const u = await getUser(db, uid);
    if (!u) throw apiError('USER_NOT_FOUND', { id: uid });
    return u;
  }

  const listKeys = (uid: string) => userKeyDocs(db, uid);

  async function revokeKey(uid: string, kid: string) {
    if (!(await revokeUserKey(db, uid, kid))) throw apiError('AUTH_KEY_NOT_FOUND', { id: kid });
  }

  app.get('/users/self', { schema: { ...t, summary: 'The calling user' } }, async (req) => {
    const p = requirePrincipal(req);
    const doc = userDoc(await loadUser(p.userId));
    const key = await keyStamps(db, p.keyId);
    return { ...doc, api_key: key ? { created: key.created, last_used: key.last_used } : undefined };
  });

  app.post('/users/self/key', { schema: { ...t, summary: 'Issue an API key for yourself', body: keyBody } }, async (req) => {
    const p = requirePrincipal(req);
    if (p.jobId || p.readOnly) throw forbidden('job keys cannot issue keys');
    return issueKey(db, ctx.config.publicUrl, p.userId, { label: req.body?.label });
  });
  app.get('/users/self/keys', { schema: { ...t, summary: 'Your API keys (never the secrets)' } }, async (req) =>
    listKeys(requirePrincipal(req).userId),
  );
  app.delete('/users/self/keys/:kid', { schema: { ...t, params: Type.Object({ kid: KEY_ID }) } }, async (req) => {
    const p = requirePrincipal(req);
    await revokeKey(p.userId, req.params.kid);
    return { revoked: 1 };
  });

  app.get('/users', { schema: { ...t, summary: 'All users (site admin)', querystring: listQuery } }, async (req) => {
    requireAdmin(req);
    const params = parseListParams(req);
    const { rows, total } = await runList(usersQuery(db), params, ctx.handle.dialect, resolveUserField);
    return listReply(params, rows.map(userDoc), total);
  });

  app.post('/users', { schema: { ...t, summary: 'Create a user (site admin)', body: newUserBody } }, async (req) => {
    requireAdmin(req);
    const b = req.body;
    const id = b._id!;
    if (await userExists(db, id)) throw apiError('USER_EXISTS', { id });
    await createUser(db, { id, email: b.email, firstname: b.firstname, lastname: b.lastname, roles: b.roles });
    return { _id: id };
  });

  app.get('/users/:uid', { schema: { ...t, params: userParams } }, async (req) => {
    const p = requirePrincipal(req);
    const { uid } = req.params;
    if (!seesWholeUser(p, uid)) {
      // Collaborators need names; other fields are only for admins and the user.
      const u = await loadUser(uid);
      return { _id: u.id, email: u.email, firstname: u.firstname, lastname: u.lastname };
    }
    return userDoc(await loadUser(uid));
  });

  app.put('/users/:uid', { schema: { ...t, params: userParams, body: userBody } }, async (req) => {
    const p = requirePrincipal(req);
    const { uid } = req.params;
    const b = req.body;
    if (!mayChangeUser(p, uid, b)) {
      throw forbidden('only site admins may change roles, disable users or edit other users');
    }
    if (b.disabled && uid === p.userId) throw conflict('you cannot disable your own account (another site admin can)');
    if (b._id !== undefined && b._id !== uid) throw forbidden('a user id cannot be changed');
    const before = await loadUser(uid);
    // Disabling ends every key of the account, as DELETE does: re-enabling later brings none back,
    // so an account disabled because a key leaked is clean once enabled again (an admin issues a new key).
    return { modified: await updateUser(db, uid, b, { revokeKeys: Boolean(b.disabled && !before.disabled) }) };
  });

  app.delete('/users/:uid', { schema: { ...t, params: userParams } }, async (req) => {
    const p = requireAdmin(req);
    const { uid } = req.params;
    await loadUser(uid);
    if (uid === p.userId) throw conflict('you cannot disable your own account (another site admin can)');
    // Users own provenance (file origins, jobs); deleting would orphan it, so they are disabled instead.
    await disableUser(db, uid);
    return { deleted: 1 };
  });

  app.post(
    '/users/:uid/key',
    { schema: { ...t, summary: 'Issue an API key for a user (site admin)', params: userParams, body: keyBody } },
    async (req) => {
      requireAdmin(req);
      const { uid } = req.params;
      await loadUser(uid);
      return issueKey(db, ctx.config.publicUrl, uid, { label: req.body?.label });
    },
  );
  app.get('/users/:uid/keys', { schema: { ...t, params: userParams } }, async (req) => {
    requireAdmin(req);
    const { uid } = req.params;
    await loadUser(uid);
    return listKeys(uid);
  });
  app.delete('/users/:uid/keys/:kid', { schema: { ...t, params: keyParams } }, async (req) => {
    requireAdmin(req);
    const { uid, kid } = req.params;
    await revokeKey(uid, kid);
    return { revoked: 1 };
  });
}
