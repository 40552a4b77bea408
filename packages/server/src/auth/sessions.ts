import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { ServerContext } from '../context.js';
import type { DatabaseHandle } from '../db/dialect.js';
import type { Database } from '../db/schema.js';
import { ApiError, apiError } from '../errors.js';
import { now } from '../ids.js';
import { principalOfKey, principalOfUser } from './authenticate.js';
import type { Principal } from './principal.js';

/**
 * Browser sessions for the web UI. The browser holds an opaque token in an HttpOnly,
 * SameSite=Strict cookie (never an API key in script-readable storage); the database holds only the
 * token's sha-256. Requests authenticated by the cookie that change state must echo the session's
 * CSRF token in `X-CSRF-Token`: SameSite=Strict already keeps other sites' forms from carrying the
 * cookie, the token covers browsers and subdomain set-ups where SameSite falls short. Requests
 * with an `Authorization` key never look at the cookie and need no token, so scripts and the SDK
 * are unaffected.
 */

export const SESSION_COOKIE = 'sprocket_session';
export const CSRF_HEADER = 'x-csrf-token';
export const SIGN_IN_PATH = '/api/auth/session';
/** A session lasts this long from sign-in (no sliding renewal: a stolen cookie has a bounded life). */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

interface UserPasswordsTable {
  user_id: string;
  hash: string;
  modified: string;
}

interface WebSessionsTable {
  id: string;
  user_id: string;
  key_id: string | null;
  csrf: string;
  created: string;
  expires: string;
}

type SessionDatabase = Database & { user_passwords: UserPasswordsTable; web_sessions: WebSessionsTable };

/** The tables of migration 0008, typed here so the shared schema file stays untouched by this module. */
function db(handle: DatabaseHandle): Kysely<SessionDatabase> {
  return handle.db as unknown as Kysely<SessionDatabase>;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export interface WebSession {
  id: string;
  csrf: string;
  userId: string;
  expires: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the request was authenticated by the session cookie (not by a key). */
    webSession?: WebSession;
  }
}

/** Opens a session; returns the cookie token (shown once) and the CSRF token the page echoes. */
export async function openSession(
  handle: DatabaseHandle,
  userId: string,
  keyId: string | null,
): Promise<{ token: string; csrf: string; expires: Date }> {
  const token = randomBytes(32).toString('base64url');
  const csrf = randomBytes(24).toString('base64url');
  const created = new Date();
  const expires = new Date(created.getTime() + SESSION_TTL_MS);
  const d = db(handle);
  // Expired rows are of no use to anyone; sweeping at sign-in keeps the table bounded without a timer.
  await d.deleteFrom('web_sessions').where('expires', '<', created.toISOString()).execute();
  await d
    .insertInto('web_sessions')
    .values({ id: sha256(token), user_id: userId, key_id: keyId, csrf, created: created.toISOString(), expires: expires.toISOString() })
    .execute();
  return { token, csrf, expires };
}

export async function endSession(handle: DatabaseHandle, sessionId: string): Promise<void> {
  await db(handle).deleteFrom('web_sessions').where('id', '=', sessionId).execute();
}

/**
 * The principal behind a cookie token, checked at every request as keys are: unexpired, the user
 * not disabled, and for a session opened with a key, that key still valid (revoking it signs out).
 */
export async function principalOfSession(
  handle: DatabaseHandle,
  token: string,
): Promise<{ principal: Principal; session: WebSession } | undefined> {
  const id = sha256(token);
  const row = await db(handle).selectFrom('web_sessions').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return undefined;
  if (row.expires <= now()) {
    await endSession(handle, id);
    return undefined;
  }
  let principal: Principal | undefined;
  if (row.key_id) {
    try {
      principal = (await principalOfKey(handle, { keyId: row.key_id })).principal;
    } catch {
      principal = undefined;
    }
  } else {
    principal = await principalOfUser(handle, row.user_id);
  }
  if (!principal) {
    await endSession(handle, id);
    return undefined;
  }
  return { principal, session: { id, csrf: row.csrf, userId: row.user_id, expires: row.expires } };
}

/**
 * The value of one cookie. A single name is all this server reads, so no cookie library is pulled in.
 * A value that is not valid percent-encoding (`%E0%A4%A`) is returned as it came: no token this
 * server issued looks like that, so it is a stale cookie like any other, not a server error.
 */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(value);
      } catch {
        return value;
      }
    }
  }
  return undefined;
}

/** The Set-Cookie header value; Secure whenever the public URL is https. */
export function sessionCookie(ctx: ServerContext, token: string, maxAgeSeconds: number): string {
  const secure = ctx.config.publicUrl.startsWith('https:') ? '; Secure' : '';
  return `${SESSION_COOKIE}=${encodeURIComponent(token)}; Path=/api; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`;
}

export function clearSessionCookie(ctx: ServerContext, reply: FastifyReply): void {
  void reply.header('Set-Cookie', sessionCookie(ctx, '', 0));
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Adds cookie authentication after key authentication: a request with a key keeps its key's
 * principal; one without is tried against the session cookie. A stale cookie is dropped (the
 * request goes on anonymous and gets the route's usual 401).
 */
export function registerSessionAuth(app: FastifyInstance, ctx: ServerContext): void {
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.principal || req.headers.authorization) return;
    // Signing in again replaces the session whatever the old cookie holds (it needs no token: a JSON
    // body cannot be sent cross-site without a CORS preflight this server never grants).
    if (req.method === 'POST' && req.url.split('?')[0] === SIGN_IN_PATH) return;
    const token = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (!token) return;
    const found = await principalOfSession(ctx.handle, token);
    if (!found) {
      clearSessionCookie(ctx, reply);
      return;
    }
    if (!SAFE_METHODS.has(req.method)) {
      const presented = req.headers[CSRF_HEADER];
      if (typeof presented !== 'string' || !sameToken(presented, found.session.csrf)) {
        throw new ApiError('FORBIDDEN', 'missing or wrong X-CSRF-Token header for a signed-in browser session');
      }
    }
    req.principal = found.principal;
    req.webSession = found.session;
  });
}

// Passwords ---------------------------------------------------------------------------------------

export const MIN_PASSWORD_LENGTH = 8;

// The native argon2 module loads with the first password set or checked, not with the server (idle RSS).
const argon2 = () => import('@node-rs/argon2');

export async function setPassword(handle: DatabaseHandle, userId: string, password: string): Promise<void> {
  const hash = await (await argon2()).hash(password);
  const d = db(handle);
  const stamp = now();
  await d
    .insertInto('user_passwords')
    .values({ user_id: userId, hash, modified: stamp })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ hash, modified: stamp }))
    .execute();
  // A new password ends the sessions opened with the old one.
  await d.deleteFrom('web_sessions').where('user_id', '=', userId).where('key_id', 'is', null).execute();
}

/** A fixed hash to verify against when the email is unknown, so timing does not tell which emails exist. */
let decoy: Promise<string> | undefined;

/** The user id for a correct email + password of an enabled user; otherwise AUTH_REQUIRED-style 401. */
export async function checkPassword(handle: DatabaseHandle, email: string, password: string): Promise<string> {
  const row = await db(handle)
    .selectFrom('users')
    .leftJoin('user_passwords', 'user_passwords.user_id', 'users.id')
    .select(['users.id', 'users.disabled', 'user_passwords.hash'])
    .where('users.email', '=', email)
    .executeTakeFirst();
  const { hash, verify } = await argon2();
  decoy ??= hash(randomBytes(16).toString('hex'));
  const ok = await verify(row?.hash ?? (await decoy), password).catch(() => false);
  if (!row?.hash || !ok) throw new ApiError('AUTH_REQUIRED', 'wrong email or password');
  if (row.disabled) throw apiError('AUTH_DISABLED', { kind: 'user', name: email });
  return row.id;
}
