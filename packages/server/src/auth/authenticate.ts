import type { SiteRole } from '@sprocket/types';
import type { FastifyRequest } from 'fastify';
import type { DatabaseHandle } from '../db/dialect.js';
import { ApiError } from '../errors.js';
import { now } from '../ids.js';
import { hashSecret, secretOf } from './keys.js';
import type { Principal } from './principal.js';

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

/** Resolves the API key of a request into a principal; undefined when the request carries none. */
export async function authenticate(handle: DatabaseHandle, req: FastifyRequest): Promise<Principal | undefined> {
  const secret = presentedSecret(req);
  if (!secret) return undefined;
  const row = await handle.db
    .selectFrom('api_keys')
    .innerJoin('users', 'users.id', 'api_keys.user_id')
    .select([
      'api_keys.id as key_id',
      'api_keys.revoked',
      'api_keys.read_only',
      'api_keys.job_id',
      'api_keys.last_used',
      'users.id as user_id',
      'users.email',
      'users.roles',
      'users.disabled',
    ])
    .where('api_keys.hash', '=', hashSecret(secret))
    .executeTakeFirst();
  if (!row || row.revoked) throw new ApiError('UNAUTHENTICATED', 'invalid or revoked API key');
  if (row.disabled) throw new ApiError('UNAUTHENTICATED', `user ${row.email} is disabled`);
  // last_used is advisory; writing it at most once a minute keeps reads from becoming writes.
  const stamp = now();
  if (!row.last_used || Date.parse(stamp) - Date.parse(row.last_used) > 60_000) {
    await handle.db.updateTable('api_keys').set({ last_used: stamp }).where('id', '=', row.key_id).execute();
  }
  const roles = JSON.parse(row.roles) as SiteRole[];
  return {
    userId: row.user_id,
    email: row.email,
    roles,
    isAdmin: roles.includes('site_admin'),
    keyId: row.key_id,
    readOnly: row.read_only === 1,
    jobId: row.job_id,
  };
}

export function requirePrincipal(req: FastifyRequest): Principal {
  if (!req.principal) throw new ApiError('UNAUTHENTICATED', 'an API key is required (Authorization: scitran-user <key>)');
  return req.principal;
}
