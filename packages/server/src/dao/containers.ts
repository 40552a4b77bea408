import type { ContainerType, Parents } from '@sprocket/types';
import type { Kysely } from 'kysely';
import type { ContainersTable, Database, FilesTable } from '../db/schema.js';
import type { FieldResolver } from '../http/filters.js';
import { now } from '../ids.js';
import { fileDoc } from './files.js';
import { type JsonObject, jsonHasKeys, parseJson } from './json.js';

/** Per-type fields a client may set, kept in the `fields` JSON column (uid/timestamp have columns). */
export const TYPE_FIELDS: Record<ContainerType, readonly string[]> = {
  project: ['description'],
  subject: [
    'code',
    'master_code',
    'firstname',
    'lastname',
    'sex',
    'age',
    'type',
    'cohort',
    'race',
    'ethnicity',
    'species',
    'strain',
    'date_of_birth',
  ],
  session: ['uid', 'timestamp', 'timezone', 'operator', 'age', 'weight'],
  acquisition: ['uid', 'timestamp', 'timezone'],
  analysis: ['description'],
};

/** Container fields a filter or sort may name, beyond `info.*`. */
const COLUMN_KEYS: Record<string, string> = {
  _id: 'id',
  id: 'id',
  label: 'label',
  created: 'created',
  modified: 'modified',
  uid: 'uid',
  timestamp: 'timestamp',
  group: 'group_id',
  'parents.group': 'group_id',
  project: 'project_id',
  'parents.project': 'project_id',
  subject: 'subject_id',
  'parents.subject': 'subject_id',
  'subject._id': 'subject_id',
  session: 'session_id',
  'parents.session': 'session_id',
  acquisition: 'acquisition_id',
  'parents.acquisition': 'acquisition_id',
  'parent.id': 'parent_id',
  'parent.type': 'parent_type',
};

export function containerFieldResolver(type: ContainerType, table = 'containers'): FieldResolver {
  const fields = new Set(TYPE_FIELDS[type]);
  return (key) => {
    const col = COLUMN_KEYS[key];
    if (col) return { kind: 'column', column: `${table}.${col}` };
    if (key === 'code' && type === 'subject') return { kind: 'column', column: `${table}.label` };
    if (key === 'tags') return { kind: 'array', column: `${table}.tags` };
    if (key === 'info') return undefined;
    if (key.startsWith('info.')) return { kind: 'json', column: `${table}.info`, path: key.slice(5).split('.') };
    const top = key.split('.')[0]!;
    if (fields.has(top)) return { kind: 'json', column: `${table}.fields`, path: key.split('.') };
    if (type === 'analysis' && (top === 'gear_info' || top === 'job')) {
      return { kind: 'json', column: `${table}.fields`, path: key.split('.') };
    }
    return undefined;
  };
}

export function parentsOf(row: ContainersTable): Parents {
  const p: Parents = { group: row.group_id };
  if (row.project_id && row.type !== 'project') p.project = row.project_id;
  if (row.subject_id && row.type !== 'subject') p.subject = row.subject_id;
  if (row.session_id && row.type !== 'session') p.session = row.session_id;
  if (row.acquisition_id && row.type !== 'acquisition') p.acquisition = row.acquisition_id;
  return p;
}

export interface DocOptions {
  /** Single GETs carry `info`; list projections leave it (and files' info) out. */
  withInfo: boolean;
  analyses?: JsonObject[];
  subject?: ContainersTable;
}

/** The JSON document of a container, in Flywheel's field names. */
export function containerDoc(row: ContainersTable, files: FilesTable[], opts: DocOptions): JsonObject {
  const fields = parseJson<JsonObject>(row.fields, {});
  const doc: JsonObject = {
    _id: row.id,
    container_type: row.type,
    label: row.label,
    parents: parentsOf(row),
    ...fields,
    tags: parseJson<string[]>(row.tags, []),
    notes: parseJson<JsonObject[]>(row.notes, []),
    info_exists: jsonHasKeys(row.info),
    files: files.map((f) => fileDoc(f, row, opts.withInfo)),
    created: row.created,
    modified: row.modified,
  };
  if (opts.withInfo) doc.info = parseJson<JsonObject>(row.info, {});
  switch (row.type) {
    case 'project':
      doc.group = row.group_id;
      break;
    case 'subject':
      doc.project = row.project_id;
      doc.code = row.label;
      break;
    case 'session':
      doc.group = row.group_id;
      doc.project = row.project_id;
      doc.subject = opts.subject ? { _id: opts.subject.id, label: opts.subject.label, code: opts.subject.label } : { _id: row.subject_id };
      doc.uid = row.uid;
      doc.timestamp = row.timestamp;
      break;
    case 'acquisition':
      doc.session = row.session_id;
      doc.uid = row.uid;
      doc.timestamp = row.timestamp;
      break;
    case 'analysis':
      doc.parent = { type: row.parent_type, id: row.parent_id };
      break;
  }
  if (opts.analyses) doc.analyses = opts.analyses;
  return doc;
}

export async function getContainer(db: Kysely<Database>, id: string): Promise<ContainersTable | undefined> {
  return db.selectFrom('containers').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Current file versions of the given containers, grouped by container id. */
export async function currentFiles(db: Kysely<Database>, containerIds: string[]): Promise<Map<string, FilesTable[]>> {
  const out = new Map<string, FilesTable[]>();
  if (!containerIds.length) return out;
  for (let i = 0; i < containerIds.length; i += 500) {
    const chunk = containerIds.slice(i, i + 500);
    const rows = await db
      .selectFrom('files')
      .selectAll()
      .where('container_id', 'in', chunk)
      .where('current', '=', 1)
      .orderBy('created')
      .orderBy('id')
      .execute();
    for (const r of rows) {
      const list = out.get(r.container_id);
      if (list) list.push(r);
      else out.set(r.container_id, [r]);
    }
  }
  return out;
}

/** Subjects referenced by sessions, so session documents can embed `subject.label`/`code`. */
export async function subjectsById(db: Kysely<Database>, ids: string[]): Promise<Map<string, ContainersTable>> {
  const unique = [...new Set(ids)];
  if (!unique.length) return new Map();
  const rows = await db.selectFrom('containers').selectAll().where('id', 'in', unique).execute();
  return new Map(rows.map((r) => [r.id, r]));
}

/** Every container id in the subtree under `row`, `row` included, deepest levels last. */
export async function subtreeIds(db: Kysely<Database>, row: ContainersTable): Promise<string[]> {
  const col =
    row.type === 'project'
      ? 'project_id'
      : row.type === 'subject'
        ? 'subject_id'
        : row.type === 'session'
          ? 'session_id'
          : row.type === 'acquisition'
            ? 'acquisition_id'
            : undefined;
  const ids = new Set<string>([row.id]);
  if (col) {
    const rows = await db.selectFrom('containers').select('id').where(col, '=', row.id).execute();
    for (const r of rows) ids.add(r.id);
  }
  // Analyses hang off any level; gather those under anything in the subtree. A subquery rather than
  // a list of ids: a large subtree would exceed the databases' bound-parameter limits.
  const analyses = await db
    .selectFrom('containers')
    .select('id')
    .where('type', '=', 'analysis')
    .where((eb) =>
      eb.or([
        eb('parent_id', '=', row.id),
        ...(col ? [eb('parent_id', 'in', eb.selectFrom('containers as c').select('c.id').where(`c.${col}`, '=', row.id))] : []),
      ]),
    )
    .execute();
  for (const a of analyses) ids.add(a.id);
  return [...ids];
}

/** The child of a parent with this type and label, if any (labels of projects and subjects are unique there). */
export async function childWithLabel(
  db: Kysely<Database>,
  parentId: string,
  type: ContainerType,
  label: string,
): Promise<ContainersTable | undefined> {
  return db
    .selectFrom('containers')
    .selectAll()
    .where('parent_id', '=', parentId)
    .where('type', '=', type)
    .where('label', '=', label)
    .executeTakeFirst();
}

/** Writes the given columns of a container and stamps it modified. */
export async function updateContainer(db: Kysely<Database>, id: string, patch: Partial<ContainersTable>): Promise<void> {
  await db
    .updateTable('containers')
    .set({ ...patch, modified: now() })
    .where('id', '=', id)
    .execute();
}
