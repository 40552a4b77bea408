import type { Kysely } from 'kysely';
import { sampleInfos } from '../dao/info-samples.js';
import { isPlainObject, parseJson } from '../dao/json.js';
import type { Database } from '../db/schema.js';
import type { ColumnType } from './spec.js';

/** A column a data view can ask for, as GET /views/columns lists them (Flywheel's DataViewColumnAlias). */
export interface ColumnAlias {
  name: string;
  description: string;
  type: ColumnType | 'object';
}

/** Rows sampled per level; keys deeper than MAX_DEPTH are offered as their parent object (flattened). */
const SAMPLE_PER_LEVEL = 500;
const MAX_DEPTH = 4;
const MAX_COLUMNS = 1000;

function typeOf(v: unknown): ColumnType | 'object' {
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'boolean') return 'bool';
  if (isPlainObject(v)) return 'object';
  return 'string';
}

/** Leaf key paths of one document, with the type of the value seen there. */
function leaves(doc: unknown, prefix: string, depth: number, into: Map<string, Set<string>>): void {
  if (!isPlainObject(doc)) return;
  for (const [k, v] of Object.entries(doc)) {
    // A view's src is `level.a.b`: keys with other characters could not be asked for.
    if (!/^[A-Za-z0-9_-]+$/.test(k)) continue;
    const key = `${prefix}.${k}`;
    if (isPlainObject(v) && depth < MAX_DEPTH) leaves(v, key, depth + 1, into);
    else {
      const types = into.get(key) ?? new Set<string>();
      types.add(typeOf(v));
      into.set(key, types);
    }
  }
}

/**
 * The `info` (and file `classification`) keys that really occur in a project, as column aliases with
 * how often they were seen in the sample, so the view builder offers what the data holds instead of
 * asking the user to know key names. A key seen with several types is offered as a string (as a float when all were numbers).
 */
export async function observedColumns(db: Kysely<Database>, projectId: string): Promise<ColumnAlias[]> {
  const samples = await sampleInfos(db, projectId, SAMPLE_PER_LEVEL);
  const seen = new Map<string, Set<string>>();
  const counts = new Map<string, number>();
  const sampled = new Map<string, number>();
  for (const s of samples) {
    sampled.set(s.level, (sampled.get(s.level) ?? 0) + 1);
    const keys = new Map<string, Set<string>>();
    leaves(parseJson<unknown>(s.info, {}), `${s.level}.info`, 1, keys);
    if (s.classification) leaves(parseJson<unknown>(s.classification, {}), `${s.level}.classification`, 1, keys);
    for (const [k, types] of keys) {
      counts.set(k, (counts.get(k) ?? 0) + 1);
      const all = seen.get(k) ?? new Set<string>();
      for (const t of types) all.add(t);
      seen.set(k, all);
    }
  }
  return [...seen.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .slice(0, MAX_COLUMNS)
    .map(([name, types]) => {
      const level = name.slice(0, name.indexOf('.'));
      // Whole and fractional numbers under one key (12, 12.5) are one float column.
      const numbers = [...types].every((t) => t === 'int' || t === 'float');
      const type = types.size === 1 ? ([...types][0] as ColumnAlias['type']) : numbers ? 'float' : 'string';
      return { name, description: `seen in ${counts.get(name)} of ${sampled.get(level)} sampled ${level}s`, type };
    });
}
