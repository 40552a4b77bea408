import type { FastifyInstance, FastifyRequest } from 'fastify';
import { principalOfKey, requirePrincipal } from '../auth/authenticate.js';
import { hashSecret, secretOf } from '../auth/keys.js';
import { requireSiteAdmin } from '../auth/principal.js';
import {
  checkPassword,
  clearSessionCookie,
  endSession,
  MIN_PASSWORD_LENGTH,
  openSession,
  SESSION_TTL_MS,
  sessionCookie,
  setPassword,
} from '../auth/sessions.js';
import type { ServerContext } from '../context.js';
import { getUser, userDoc, userExists } from '../dao/users.js';
import { ApiError, apiError, forbidden } from '../errors.js';
import { eventHubOf } from './events.js';

const t = { tags: ['sessions'] };

const signInBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    email: { type: 'string', minLength: 1, maxLength: 256 },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
    api_key: { type: 'string', minLength: 1, maxLength: 1024 },
  },
} as const;

async function sessionReply(ctx: ServerContext, userId: string, csrf: string) {
  const user = await getUser(ctx.handle.db, userId);
  if (!user) throw apiError('USER_NOT_FOUND', { id: userId });
  return { user: userDoc(user), csrf_token: csrf };
}

/**
 * Browser sign-in (auth/sessions.ts): `POST /auth/session` with email + password or an API key sets
 * the session cookie and answers the CSRF token; `GET /auth/session` tells a reloaded page
 * who it is; `DELETE /auth/session` signs out, ending the session on the server.
 */
export async function sessionRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.post('/auth/session', { schema: { ...t, body: signInBody } }, async (req, reply) => {
    const body = (req.body ?? {}) as { email?: string; password?: string; api_key?: string };
    let userId: string;
    let keyId: string | null = null;
    if (body.api_key !== undefined) {
      const { principal } = await principalOfKey(ctx.handle, { hash: hashSecret(secretOf(body.api_key)) });
      // Device and job keys are for machines; a browser session stands for a person.
      if (principal.kind === 'engine' || principal.jobId) throw forbidden('only a user API key can open a browser session');
      userId = principal.userId;
      keyId = principal.keyId;
    } else if (body.email !== undefined && body.password !== undefined) {
      const wait = ctx.signIns.wait(req.ip, body.email);
      if (wait !== undefined) {
        void reply.header('Retry-After', String(wait));
        throw apiError('AUTH_THROTTLED', { seconds: wait });
      }
      try {
        userId = await checkPassword(ctx.handle, body.email, body.password);
      } catch (e) {
        ctx.signIns.failed(req.ip, body.email);
        throw e;
      }
      ctx.signIns.succeeded(req.ip, body.email);
    } else {
      throw apiError('BAD_REQUEST', { reason: 'send email and password, or api_key' });
    }
    const s = await openSession(ctx.handle, userId, keyId);
    void reply.header('Set-Cookie', sessionCookie(ctx, s.token, Math.floor(SESSION_TTL_MS / 1000)));
    // Never cached anywhere: it carries the CSRF token.
    void reply.header('Cache-Control', 'no-store');
    return sessionReply(ctx, userId, s.csrf);
  });

  app.get('/auth/session', { schema: t }, async (req, reply) => {
    const p = requirePrincipal(req);
    if (!req.webSession) throw new ApiError('AUTH_REQUIRED', 'no browser session (this request was made with an API key)');
    void reply.header('Cache-Control', 'no-store');
    return sessionReply(ctx, p.userId, req.webSession.csrf);
  });

  app.delete('/auth/session', { schema: t }, async (req: FastifyRequest, reply) => {
    requirePrincipal(req);
    if (!req.webSession) throw new ApiError('AUTH_REQUIRED', 'no browser session (this request was made with an API key)');
    await endSession(ctx.handle, req.webSession.id);
    eventHubOf(ctx).closeSession(req.webSession.id);
    clearSessionCookie(ctx, reply);
    return { deleted: 1 };
  });

  app.put(
    '/users/:uid/password',
    {
      schema: {
        ...t,
        params: { type: 'object', properties: { uid: { type: 'string', minLength: 1, maxLength: 256 } }, required: ['uid'] },
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { password: { type: 'string', minLength: MIN_PASSWORD_LENGTH, maxLength: 1024 } },
          required: ['password'],
        },
      },
    },
    async (req) => {
      const p = requirePrincipal(req);
      requireSiteAdmin(p);
      const { uid } = req.params as { uid: string };
      if (!(await userExists(ctx.handle.db, uid))) throw apiError('USER_NOT_FOUND', { id: uid });
      await setPassword(ctx.handle, uid, (req.body as { password: string }).password);
      return { modified: 1 };
    },
  );
}
