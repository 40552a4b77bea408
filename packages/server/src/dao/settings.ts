import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** Reads a site setting, creating it with `make()` the first time (first writer wins across processes). */
export async function siteSetting(db: Kysely<Database>, key: string, make: () => string): Promise<string> {
  await db
    .insertInto('settings')
    .values({ key, value: make() })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const row = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirstOrThrow();
  return row.value;
}

export const ticketSecret = (db: Kysely<Database>) => siteSetting(db, 'ticket_secret', () => randomBytes(32).toString('hex'));
