import { type Kysely, sql } from 'kysely';
import type { ContainersTable, Database } from '../db/schema.js';

/**
 * The containers one level below another, as path lookups walk them: without subjects in the path,
 * a project's sessions are those of the whole project, not children of the project itself.
 */
function childrenOf(db: Kysely<Database>, parent: { type: string; id: string }, type: string) {
  const q = db.selectFrom('containers').selectAll().where('type', '=', type);
  return parent.type === 'project' && type === 'session' ? q.where('project_id', '=', parent.id) : q.where('parent_id', '=', parent.id);
}

/**
 * The children of `type` a path segment names: the one with that id (`<id>` or a bare 24-hex
 * segment no label matches), else those with that label, oldest first, at most `limit`.
 */
export async function childrenNamed(
  db: Kysely<Database>,
  parent: { type: string; id: string },
  type: string,
  seg: string,
  opts: { id?: string; bareId: boolean; limit: number },
): Promise<ContainersTable[]> {
  const q = childrenOf(db, parent, type);
  if (opts.id) return q.where('id', '=', opts.id).execute();
  const rows = await q.where('label', '=', seg).orderBy('created').orderBy('id').limit(opts.limit).execute();
  if (!rows.length && opts.bareId) return q.where('id', '=', seg).execute();
  return rows;
}

/** Every child of `type`, oldest first; only within `projects` when given (the reader's visible ones). */
export async function childrenWithin(
  db: Kysely<Database>,
  parent: { type: string; id: string },
  type: string,
  projects?: string[],
): Promise<ContainersTable[]> {
  let q = childrenOf(db, parent, type);
  if (projects) q = projects.length ? q.where('project_id', 'in', projects) : q.where(sql<boolean>`false`);
  return q.orderBy('created').orderBy('id').execute();
}
