import type { Kysely } from 'kysely';
import type { Principal } from '../auth/principal.js';
import type { Database } from '../db/schema.js';
import { apiError, forbidden } from '../errors.js';
import { now } from '../ids.js';

/**
 * Gear names have an owner: the user whose upload first stored the name, or nobody (null) for names
 * that belong to the site admins (gears stored before owners were recorded). Only the owner and site
 * admins upload new versions of a name, so nobody can make their own code the "latest" of a gear
 * other people run, nor steer `auto_update` rules that follow it.
 */

export interface GearNameOwner {
  name: string;
  /** null: only site admins may upload versions. */
  owner_id: string | null;
}

export async function gearNameOwner(db: Kysely<Database>, name: string): Promise<GearNameOwner | undefined> {
  return db.selectFrom('gear_names').select(['name', 'owner_id']).where('name', '=', name).executeTakeFirst();
}

export function mayUploadVersion(owner: GearNameOwner | undefined, who: Principal): boolean {
  if (!owner) return true; // a new name: the upload claims it
  return who.isAdmin || (owner.owner_id !== null && owner.owner_id === who.userId);
}

function ownedElsewhere(name: string, owner: GearNameOwner): Error {
  const whose = owner.owner_id === null ? 'the site admins' : 'another user';
  return forbidden(`gear ${name} belongs to ${whose}: only the owner of a gear name and site admins may upload versions of it`);
}

/** 403 unless `who` may upload a version of `name` (a read, for refusing before the archive is kept). */
export async function checkMayUpload(db: Kysely<Database>, name: string, who: Principal): Promise<void> {
  const owner = await gearNameOwner(db, name);
  if (owner && !mayUploadVersion(owner, who)) throw ownedElsewhere(name, owner);
}

/**
 * Inside the transaction that stores a version: claims the name for `who` if nobody has it yet and
 * returns its owner, or throws 403. The primary key on the name makes two first uploads racing for
 * it end with one owner; the loser gets the 403.
 */
export async function claimGearName(db: Kysely<Database>, name: string, who: Principal): Promise<string | null> {
  const stamp = now();
  await db
    .insertInto('gear_names')
    .values({ name, owner_id: who.userId, created: stamp, modified: stamp })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const owner = await gearNameOwner(db, name);
  if (!owner) throw new Error(`gear name ${name} vanished while being claimed`);
  if (!mayUploadVersion(owner, who)) throw ownedElsewhere(name, owner);
  return owner.owner_id;
}

/** Hands a gear name to another user (or to the site admins with null): its owner or a site admin. */
export async function setGearNameOwner(
  db: Kysely<Database>,
  name: string,
  newOwner: string | null,
  who: Principal,
): Promise<GearNameOwner> {
  const owner = await gearNameOwner(db, name);
  if (!owner) throw apiError('GEAR_NAME_NOT_FOUND', { name });
  if (!mayUploadVersion(owner, who)) throw ownedElsewhere(name, owner);
  await db.updateTable('gear_names').set({ owner_id: newOwner, modified: now() }).where('name', '=', name).execute();
  return { name, owner_id: newOwner };
}
