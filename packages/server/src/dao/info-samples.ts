import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** The container levels a data view reads `info` from. */
const LEVELS = ['project', 'subject', 'session', 'acquisition'] as const;

export interface InfoSample {
  /** `project` … `acquisition`, or `file`. */
  level: string;
  /** The stored JSON text of `info` (files: also `classification`, as `{"classification": …}`). */
  info: string;
  classification?: string;
}

/**
 * Up to `perLevel` non-empty `info` documents of each container level and of the current files of
 * one project: what the data-view builder offers as columns. A sample, not a scan: on a project of
 * a million files the offer costs the same as on a small one.
 */
export async function sampleInfos(db: Kysely<Database>, projectId: string, perLevel: number): Promise<InfoSample[]> {
  const out: InfoSample[] = [];
  for (const level of LEVELS) {
    const rows = await db
      .selectFrom('containers')
      .select(['info'])
      .where('type', '=', level)
      .where(level === 'project' ? 'id' : 'project_id', '=', projectId)
      .where('info', '!=', '{}')
      .limit(perLevel)
      .execute();
    for (const r of rows) out.push({ level, info: r.info });
  }
  const files = await db
    .selectFrom('files')
    .select(['info', 'classification'])
    .where('project_id', '=', projectId)
    .where('current', '=', 1)
    .where((eb) => eb.or([eb('info', '!=', '{}'), eb('classification', '!=', '{}')]))
    .limit(perLevel)
    .execute();
  for (const r of files) out.push({ level: 'file', info: r.info, classification: r.classification });
  return out;
}
