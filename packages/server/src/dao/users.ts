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

export async function userExists(db: Kysely<Database>, uid: string): Promise<boolean> {
  return (await db.selectFrom('users').select('id').where('id', '=', uid).executeTakeFirst()) !== undefined;
}

export async function getUser(db: Kysely<Database>, uid: string): Promise<UsersTable | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', uid).executeTakeFirst();
}

/** The query a user listing pages through (runList adds filter, sort and paging). */
export function usersQuery(db: Kysely<Database>) {
  return db.selectFrom('users').selectAll();
}

/** A user's own API keys (not those minted for their jobs), never the secrets. */
export async function userKeyDocs(db: Kysely<Database>, uid: string): Promise<JsonObject[]> {
  const rows = await db
    .selectFrom('api_keys')
    .select(['id', 'label', 'type', 'created', 'last_used', 'revoked'])
    .where('user_id', '=', uid)
    .where('job_id', 'is', null)
    .orderBy('created')
    .execute();
  return rows.map((r) => ({
    _id: r.id,
    label: r.label,
    type: r.type,
    created: r.created,
    last_used: r.last_used,
    revoked: r.revoked === 1,
  }));
}

/** When a key was made and last used, if it exists. */
export async function keyStamps(db: Kysely<Database>, keyId: string): Promise<{ created: string; last_used: string | null } | undefined> {
  return db.selectFrom('api_keys').select(['created', 'last_used']).where('id', '=', keyId).executeTakeFirst();
}

/** Whether the user had that key to revoke. */
export async function revokeUserKey(db: Kysely<Database>, uid: string, kid: string): Promise<boolean> {
  const r = await db.updateTable('api_keys').set({ revoked: 1 }).where('id', '=', kid).where('user_id', '=', uid).executeTakeFirst();
  return Boolean(r.numUpdatedRows);
}

/** Every key of a user, their own and those minted for their running jobs. */
async function revokeAllKeys(db: Kysely<Database>, uid: string): Promise<void> {
  await db.updateTable('api_keys').set({ revoked: 1 }).where('user_id', '=', uid).where('revoked', '=', 0).execute();
}

export interface UserPatch {
  email?: string;
  firstname?: string;
  lastname?: string;
  roles?: SiteRole[];
  disabled?: boolean;
}

/**
 * Changes the fields given; answers how many rows changed. Disabling ends every key of the account
 * (`revokeKeys`), in the same transaction.
 */
export async function updateUser(db: Kysely<Database>, uid: string, b: UserPatch, opts: { revokeKeys: boolean }): Promise<number> {
  const r = await db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable('users')
      .set({
        ...(b.email !== undefined ? { email: b.email } : {}),
        ...(b.firstname !== undefined ? { firstname: b.firstname } : {}),
        ...(b.lastname !== undefined ? { lastname: b.lastname } : {}),
        ...(b.roles !== undefined ? { roles: JSON.stringify(b.roles.length ? b.roles : ['user']) } : {}),
        ...(b.disabled !== undefined ? { disabled: b.disabled ? 1 : 0 } : {}),
        modified: now(),
      })
      .where('id', '=', uid)
      .executeTakeFirst();
    if (opts.revokeKeys) await revokeAllKeys(trx, uid);
    return updated;
  });
  return Number(r.numUpdatedRows);
}

/** Disables a user and revokes every key of theirs (users own provenance, so they are never deleted). */
export async function disableUser(db: Kysely<Database>, uid: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.updateTable('users').set({ disabled: 1, modified: now() }).where('id', '=', uid).execute();
    await revokeAllKeys(trx, uid);
  });
}
