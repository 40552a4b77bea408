import type { SiteRole } from '@sprocket/types';
import type { Kysely } from 'kysely';
import { formatKey, hashSecret, newSecret } from '../auth/keys.js';
import type { Database, UsersTable } from '../db/schema.js';
import { newId, now } from '../ids.js';
import type { JsonObject } from './json.js';

export function userDoc(u: UsersTable): JsonObject {
  const roles = JSON.parse(u.roles) as SiteRole[];
  return {
    _id: u.id,
    email: u.email,
    firstname: u.firstname,
    lastname: u.lastname,
    roles,
    root: roles.includes('site_admin'),
    disabled: u.disabled === 1,
    created: u.created,
    modified: u.modified,
  };
}

export async function createUser(
  db: Kysely<Database>,
  u: { id: string; email?: string; firstname?: string; lastname?: string; roles?: SiteRole[] },
): Promise<void> {
  const stamp = now();
  await db
    .insertInto('users')
    .values({
      id: u.id,
      email: u.email ?? u.id,
      firstname: u.firstname ?? '',
      lastname: u.lastname ?? '',
      roles: JSON.stringify(u.roles?.length ? u.roles : ['user']),
      disabled: 0,
      created: stamp,
      modified: stamp,
    })
    .execute();
}

/** Issues a new API key; the returned key is the only time the secret is ever shown. */
export async function issueKey(
  db: Kysely<Database>,
  apiUrl: string,
  userId: string,
  opts: { label?: string; type?: string; jobId?: string; readOnly?: boolean } = {},
): Promise<{ id: string; key: string }> {
  const secret = newSecret();
  const id = newId();
  await db
    .insertInto('api_keys')
    .values({
      id,
      user_id: userId,
      hash: hashSecret(secret),
      label: opts.label ?? '',
      type: opts.type ?? 'user',
      job_id: opts.jobId ?? null,
      read_only: opts.readOnly ? 1 : 0,
      created: now(),
      last_used: null,
      revoked: 0,
    })
    .execute();
  return { id, key: formatKey(apiUrl, secret) };
}

export const BOOTSTRAP_ADMIN = 'admin@sprocket.local';

/** On an empty site: creates the first site admin and returns their key (undefined otherwise). */
export async function bootstrapAdmin(db: Kysely<Database>, apiUrl: string): Promise<string | undefined> {
  const any = await db.selectFrom('users').select('id').limit(1).executeTakeFirst();
  if (any) return undefined;
  await createUser(db, { id: BOOTSTRAP_ADMIN, firstname: 'Site', lastname: 'Admin', roles: ['site_admin'] });
  return (await issueKey(db, apiUrl, BOOTSTRAP_ADMIN, { label: 'bootstrap' })).key;
}
