import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { now } from '../ids.js';
import type { JsonObject } from './json.js';

/** Registered engines (devices), as `GET /devices` lists them. */
export async function deviceDocs(db: Kysely<Database>): Promise<JsonObject[]> {
  const rows = await db.selectFrom('devices').selectAll().orderBy('created').orderBy('id').execute();
  return rows.map((d) => ({
    _id: d.id,
    name: d.label,
    type: d.type,
    disabled: d.disabled === 1,
    last_seen: d.last_seen,
    created: d.created,
    modified: d.modified,
  }));
}

/** Disables a device and revokes its engine keys; false when there is no such device. */
export async function disableDevice(db: Kysely<Database>, id: string): Promise<boolean> {
  const r = await db.updateTable('devices').set({ disabled: 1, modified: now() }).where('id', '=', id).executeTakeFirst();
  if (!Number(r.numUpdatedRows)) return false;
  await db.updateTable('api_keys').set({ revoked: 1 }).where('user_id', '=', id).where('type', '=', 'engine').execute();
  return true;
}
