import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import type { Database, GearsTable } from '../db/schema.js';

/** Gear rows: the listing of `GET /gears`, lookups by name, deletion. */

/** Gears for a listing: every version, or the latest enabled version of each name (`allVersions` false). */
export function gearsQuery(db: Kysely<Database>, allVersions: boolean): SelectQueryBuilder<Database, 'gears', GearsTable> {
  let base = db.selectFrom('gears').selectAll();
  if (!allVersions) {
    base = base
      .where('disabled', '=', 0)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('gears as newer')
              .select('newer.id')
              .whereRef('newer.name', '=', 'gears.name')
              .where(sql<boolean>`(newer.created > gears.created or (newer.created = gears.created and newer.id > gears.id))`),
          ),
        ),
      );
  }
  return base;
}

/** A gear by name: that version, or without one the newest enabled version. */
export async function gearNamed(db: Kysely<Database>, name: string, version: string | undefined): Promise<GearsTable | undefined> {
  let q = db.selectFrom('gears').selectAll().where('name', '=', name);
  q = version !== undefined ? q.where('version', '=', version) : q.where('disabled', '=', 0);
  return q.orderBy('created', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
}

export async function deleteGearRow(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom('gear_images').where('gear_id', '=', id).execute();
  await db.deleteFrom('gears').where('id', '=', id).execute();
}
