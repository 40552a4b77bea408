import type { Kysely } from 'kysely';
import type { BatchesTable, Database } from '../db/schema.js';

/** Batches, oldest first: every one, or those of one user (`originId`). */
export async function batchesOf(db: Kysely<Database>, originId: string | undefined): Promise<BatchesTable[]> {
  let q = db.selectFrom('batches').selectAll();
  if (originId !== undefined) q = q.where('origin_id', '=', originId);
  return q.orderBy('created').orderBy('id').execute();
}
