import type { SiteRole } from '@sprocket/types';
import type { FastifyRequest } from 'fastify';
import type { DatabaseHandle } from '../db/dialect.js';
import { apiError } from '../errors.js';
import { now } from '../ids.js';
import { assertEngineMayCall } from './engine-access.js';
import { assertJobKeyMayCall } from './job-key-access.js';
import { hashSecret, secretOf } from './keys.js';
import type { Principal, RouteCall } from './principal.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

function presentedSecret(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (header) {
    const m = /^(?:scitran-user|bearer)\s+(.+)$/i.exec(header.trim());
    return secretOf(m ? m[1]! : header);
  }
  return undefined;
}

/**
 * The principal a stored key stands for, checked as at every request: not revoked, its user or
 * device not disabled, a job key only while its job runs. Download tickets name the key that asked
 * for them and come back through here when used, so a ticket dies with its key.
 */
export async function principalOfKey(
  handle: DatabaseHandle,
  by: { hash: string } | { keyId: string },
): Promise<{ principal: Principal; lastUsed: string | null }> {
  const base = handle.db
    .selectFrom('api_keys')
    .leftJoin('users', 'users.id', 'api_keys.user_id')
    .leftJoin('devices', 'devices.id', 'api_keys.user_id')
    .select([
      'api_keys.id as key_id',
      'api_keys.type as key_type',
      'api_keys.revoked',
      'api_keys.read_only',
      'api_keys.job_id',
      'api_keys.last_used',
      'api_keys.user_id',
      'users.email',
      'users.roles',
      'users.disabled',
      'devices.label as device_label',
      'devices.disabled as device_disabled',
    ]);
  const row = await ('hash' in by
    ? base.where('api_keys.hash', '=', by.hash)
    : base.where('api_keys.id', '=', by.keyId)
  ).executeTakeFirst();
  if (!row) throw apiError('AUTH_INVALID_KEY', {});
  const engine = row.key_type === 'engine';
  if (engine ? row.device_label === null : row.email === null) throw apiError('AUTH_INVALID_KEY', {});
  // Disabling revokes every key too; saying why helps the holder more than "revoked".
  if (engine ? row.device_disabled : row.disabled)
    throw apiError('AUTH_DISABLED', { kind: engine ? 'device' : 'user', name: String(row.email ?? row.device_label) });
  if (row.revoked) throw apiError('AUTH_INVALID_KEY', {});
  if (row.job_id) {
    // Job keys live only while their job runs; revocation at the end is the rule, this is the guard.
    const job = await handle.db.selectFrom('jobs').select('state').where('id', '=', row.job_id).executeTakeFirst();
    if (job?.state !== 'running') throw apiError('AUTH_JOB_KEY_EXPIRED', { job: String(row.job_id), state: job?.state ?? 'gone' });
  }
  if (engine) {
    return {
      principal: {
        kind: 'engine',
        userId: row.user_id,
        email: row.device_label ?? row.user_id,
        roles: [],
        isAdmin: false,
        keyId: row.key_id,
        readOnly: true,
        jobId: null,
      },
      lastUsed: row.last_used,
    };
  }
  const roles = JSON.parse(row.roles ?? '[]') as SiteRole[];
  return {
    principal: {
      kind: 'user',
      userId: row.user_id,
      email: row.email ?? row.user_id,
      roles,
      // A job key never carries site-admin powers; within its job's projects access.ts grants them.
      isAdmin: roles.includes('site_admin') && !row.job_id,
      keyId: row.key_id,
      readOnly: row.read_only === 1,
      jobId: row.job_id,
    },
    lastUsed: row.last_used,
  };
}

/**
 * A user acting without a key of their own (a gear rule runs as its author): read-only, since
 * such checks ask what the user could do, and undefined for a missing or disabled user.
 */
export async function principalOfUser(handle: DatabaseHandle, userId: string): Promise<Principal | undefined> {
  const u = await handle.db.selectFrom('users').select(['id', 'email', 'roles', 'disabled']).where('id', '=', userId).executeTakeFirst();
  if (!u || u.disabled) return undefined;
  const roles = JSON.parse(u.roles) as SiteRole[];
  return {
    kind: 'user',
    userId: u.id,
    email: u.email,
    roles,
    isAdmin: roles.includes('site_admin'),
    keyId: '',
    readOnly: false,
    jobId: null,
  };
}

/** Resolves the API key of a request into a principal; undefined when the request carries none. */
export async function authenticate(handle: DatabaseHandle, req: FastifyRequest): Promise<Principal | undefined> {
  const secret = presentedSecret(req);
  if (!secret) return undefined;
  const { principal, lastUsed } = await principalOfKey(handle, { hash: hashSecret(secret) });
  // last_used is advisory; writing it at most once a minute keeps reads from becoming writes.
  const stamp = now();
  if (!lastUsed || Date.parse(stamp) - Date.parse(lastUsed) > 60_000) {
    await handle.db.updateTable('api_keys').set({ last_used: stamp }).where('id', '=', principal.keyId).execute();
    if (principal.kind === 'engine')
      await handle.db.updateTable('devices').set({ last_seen: stamp }).where('id', '=', principal.userId).execute();
  }
  return principal;
}

export function requirePrincipal(req: FastifyRequest): Principal {
  if (!req.principal) throw apiError('AUTH_REQUIRED', {});
  return req.principal;
}

/**
 * The route guards for keys narrower than their user: an engine key reaches only what its running
 * jobs need, a job key only data (engine-access.ts, job-key-access.ts). Other keys pass; what they
 * may do is checked by the route (access.ts).
 */
export async function assertPrincipalMayCall(handle: DatabaseHandle, req: FastifyRequest): Promise<void> {
  const principal = req.principal;
  if (!principal || (principal.kind !== 'engine' && !principal.jobId)) return;
  const call: RouteCall = {
    method: req.method,
    url: req.routeOptions.url,
    engineRoute: !!(req.routeOptions.config as { engine?: boolean } | undefined)?.engine,
    params: req.params,
    query: req.query,
    principal,
  };
  if (principal.kind === 'engine') await assertEngineMayCall(handle, call);
  else assertJobKeyMayCall(call);
}
