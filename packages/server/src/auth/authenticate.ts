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
    ])
    .where('api_keys.hash', '=', hashSecret(secret))
    .executeTakeFirst();
  if (!row || row.revoked) throw new ApiError('UNAUTHENTICATED', 'invalid or revoked API key');
  const engine = row.key_type === 'engine';
  if (engine ? row.device_label === null : row.email === null) throw new ApiError('UNAUTHENTICATED', 'invalid or revoked API key');
  if (engine ? row.device_disabled : row.disabled) throw new ApiError('UNAUTHENTICATED', `${engine ? 'device' : 'user'} ${row.email ?? row.device_label} is disabled`);
  if (row.job_id) {
    // Job keys live only while their job runs; revocation at the end is the rule, this is the guard.
    const job = await handle.db.selectFrom('jobs').select('state').where('id', '=', row.job_id).executeTakeFirst();
    if (job?.state !== 'running') throw new ApiError('UNAUTHENTICATED', `API key of job ${row.job_id} is no longer valid (job is ${job?.state ?? 'gone'})`);
  }
  // last_used is advisory; writing it at most once a minute keeps reads from becoming writes.
  const stamp = now();
  if (!row.last_used || Date.parse(stamp) - Date.parse(row.last_used) > 60_000) {
    await handle.db.updateTable('api_keys').set({ last_used: stamp }).where('id', '=', row.key_id).execute();
    if (engine) await handle.db.updateTable('devices').set({ last_seen: stamp }).where('id', '=', row.user_id).execute();
  }
  if (engine) {
    return { kind: 'engine', userId: row.user_id, email: row.device_label ?? row.user_id, roles: [], isAdmin: false, keyId: row.key_id, readOnly: true, jobId: null };
  }
  const roles = JSON.parse(row.roles ?? '[]') as SiteRole[];
  return {
    kind: 'user',
    userId: row.user_id,
    email: row.email ?? row.user_id,
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
