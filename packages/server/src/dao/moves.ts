import type { Kysely } from 'kysely';
import type { ContainersTable, Database } from '../db/schema.js';
import { now } from '../ids.js';
import { subtreeIds } from './containers.js';
import { chainBelow } from './hierarchy.js';

/** Where a container may be moved to (Flywheel's PUT fields): a session under a subject, an acquisition under a session. */
export const MOVE_TARGETS: Record<string, { field: string; type: 'subject' | 'session' }> = {
  session: { field: 'subject', type: 'subject' },
  acquisition: { field: 'session', type: 'session' },
};

/**
 * Re-parents `row` (a session or an acquisition) under `dest`, and everything below it with it:
 * the ancestor ids every container and file row carries (group, project, subject, and for an
 * acquisition its session) follow in one transaction, so permissions, listings and paths see the
 * subtree in its new place at once. Ids, files and provenance are unchanged.
 */
export async function moveContainer(db: Kysely<Database>, row: ContainersTable, dest: ContainersTable): Promise<void> {
  const chain = chainBelow(dest);
  const below = (await subtreeIds(db, row)).filter((id) => id !== row.id);
  const ancestors = {
    group_id: chain.group_id,
    project_id: chain.project_id,
    subject_id: chain.subject_id,
    ...(row.type === 'acquisition' ? { session_id: chain.session_id } : {}),
  };
  const stamp = now();
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('containers')
      .set({ ...ancestors, parent_type: dest.type, parent_id: dest.id, modified: stamp })
      .where('id', '=', row.id)
      .execute();
    // Children in slices: a big session must not exceed the databases' bound-parameter limits.
    for (let i = 0; i < below.length; i += 500) {
      await trx
        .updateTable('containers')
        .set(ancestors)
        .where('id', 'in', below.slice(i, i + 500))
        .execute();
    }
    const all = [row.id, ...below];
    for (let i = 0; i < all.length; i += 500) {
      await trx
        .updateTable('files')
        .set({ project_id: chain.project_id })
        .where('container_id', 'in', all.slice(i, i + 500))
        .execute();
    }
  });
}
