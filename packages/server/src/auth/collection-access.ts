import { ACTIONS, type Action } from '@sprocket/types';
import type { DatabaseHandle } from '../db/dialect.js';
import type { CollectionsTable } from '../db/schema.js';
import { ApiError, apiError } from '../errors.js';
import type { AccessContext } from './access.js';

/**
 * Permissions on collections, shaped like a project's: each user holds roles on the collection
 * (`collection_permissions`), and their actions there are the union of those roles' actions. The
 * curator gets the built-in admin role when the collection is made, and stays an admin of it even
 * without that row, so a collection cannot be locked away from its curator. Group access plays no part: a
 * collection belongs to no group. Site admins hold every action; job and engine keys none (their
 * reach is the job's projects, and job-key-access.ts keeps them off these routes anyway).
 *
 * Holding a role on a collection grants nothing on its members: sessions and acquisitions are
 * shown only where the caller may see them on their own (see dao/collections.ts).
 */

const READ_SUFFIXES = ['_view', '_view_metadata', '_view_contents', '_download'];

export class CollectionAccess {
  private readonly cache = new Map<string, Set<Action>>();

  constructor(
    private readonly handle: DatabaseHandle,
    private readonly access: AccessContext,
  ) {}

  private get db() {
    return this.handle.db;
  }

  async actions(collection: Pick<CollectionsTable, 'id' | 'curator'>): Promise<Set<Action>> {
    const collectionId = collection.id;
    const hit = this.cache.get(collectionId);
    if (hit) return hit;
    const p = this.access.principal;
    let actions = new Set<Action>();
    if (p.jobId || p.kind === 'engine') {
      // Nothing: outside any job's projects.
    } else if (p.isAdmin || collection.curator === p.userId) {
      actions = new Set(ACTIONS);
    } else {
      const perm = await this.db
        .selectFrom('collection_permissions')
        .select('role_ids')
        .where('collection_id', '=', collectionId)
        .where('user_id', '=', p.userId)
        .executeTakeFirst();
      const roleIds = perm ? (JSON.parse(perm.role_ids) as string[]) : [];
      if (roleIds.length) {
        const roles = await this.db.selectFrom('roles').select('actions').where('id', 'in', roleIds).execute();
        for (const r of roles) for (const a of JSON.parse(r.actions) as Action[]) actions.add(a);
      }
    }
    if (p.readOnly) for (const a of [...actions]) if (!READ_SUFFIXES.some((s) => a.endsWith(s))) actions.delete(a);
    this.cache.set(collectionId, actions);
    return actions;
  }

  /** Loads a collection and checks one action; collections the caller holds no role on are reported missing. */
  async require(id: string, action: Action): Promise<CollectionsTable> {
    const row = await this.db.selectFrom('collections').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw apiError('COLLECTION_NOT_FOUND', { id });
    const actions = await this.actions(row);
    if (actions.size === 0) throw apiError('COLLECTION_NOT_FOUND', { id });
    if (!actions.has(action)) throw new ApiError('FORBIDDEN', `permission denied: ${action} on collection ${id}`);
    return row;
  }

  /** Ids of the collections the caller holds any role on (undefined: all of them, for site admins). */
  async visibleIds(): Promise<string[] | undefined> {
    const p = this.access.principal;
    if (p.jobId || p.kind === 'engine') return [];
    if (p.isAdmin) return undefined;
    const rows = await this.db.selectFrom('collection_permissions').select('collection_id').where('user_id', '=', p.userId).execute();
    const curated = await this.db.selectFrom('collections').select('id').where('curator', '=', p.userId).execute();
    return [...new Set([...rows.map((r) => r.collection_id), ...curated.map((r) => r.id)])];
  }
}
