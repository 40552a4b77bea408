import type { ContainerType, Parents } from '@sprocket/types';
import type { Kysely, SelectQueryBuilder } from 'kysely';
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
    // Own keys only: `sort=constructor` must not find Object.prototype's members (a column named after a function).
    const col = Object.hasOwn(COLUMN_KEYS, key) ? COLUMN_KEYS[key] : undefined;
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

type ContainersQuery = SelectQueryBuilder<Database, 'containers', ContainersTable>;
/** The columns a permission check reads (auth/access.ts `can`, `check`). */
export type ContainerRef = Pick<ContainersTable, 'id' | 'type' | 'project_id' | 'group_id'>;

/**
 * Containers of one type for a listing: optionally only those with `scope.column = scope.value`
 * (under one ancestor), and only those in `projects` when given (a reader's visible projects).
 */
export function containersQuery(
  db: Kysely<Database>,
  type: ContainerType,
  scope?: { column: keyof ContainersTable; value: string },
  projects?: string[],
): ContainersQuery {
  let q = db.selectFrom('containers').selectAll().where('type', '=', type);
  if (scope) q = q.where(scope.column, '=', scope.value);
  if (projects) q = q.where('project_id', 'in', projects);
  return q;
}

/** The subject label, as a session listing may filter and sort on it (`subject.label`, `subject.code`). */
const SUBJECT_LABEL_KEYS = new Set(['subject.label', 'subject.code']);

export const namesSubjectLabel = (keys: string[]): boolean => keys.some((k) => SUBJECT_LABEL_KEYS.has(k));

/**
 * Sessions joined to their subject, for a listing that filters or sorts on the subject's label
 * (the web UI's first page of a project's sessions is sorted as its table is: subject, then
 * session). Columns are qualified: both sides of the join are `containers` rows.
 */
export function sessionsBySubjectQuery(
  db: Kysely<Database>,
  scope?: { column: keyof ContainersTable; value: string },
  projects?: string[],
): ContainersQuery {
  let q = db
    .selectFrom('containers')
    .innerJoin('containers as subject_row', 'subject_row.id', 'containers.subject_id')
    .selectAll('containers')
    .where('containers.type', '=', 'session');
  if (scope) q = q.where(`containers.${scope.column}`, '=', scope.value);
  if (projects) q = q.where('containers.project_id', 'in', projects);
  return q as unknown as ContainersQuery;
}

/** containerFieldResolver('session') that also knows `subject.label`, for sessionsBySubjectQuery. */
export function sessionBySubjectFieldResolver(): FieldResolver {
  const base = containerFieldResolver('session');
  return (key) => (SUBJECT_LABEL_KEYS.has(key) ? { kind: 'column', column: 'subject_row.label' } : base(key));
}

/** The analyses hung off one container, for a listing. */
export function analysesOfQuery(db: Kysely<Database>, parentId: string): ContainersQuery {
  return db.selectFrom('containers').selectAll().where('type', '=', 'analysis').where('parent_id', '=', parentId);
}

/**
 * The analyses anywhere below a container whose chain column (`project_id` … `acquisition_id`)
 * is `column`, for a listing; `parentType` keeps those hung off one kind of container.
 */
export function analysesBelowQuery(
  db: Kysely<Database>,
  column: 'project_id' | 'subject_id' | 'session_id' | 'acquisition_id',
  id: string,
  parentType?: ContainerType,
): ContainersQuery {
  let q = db.selectFrom('containers').selectAll().where('type', '=', 'analysis').where(column, '=', id);
  if (parentType) q = q.where('parent_type', '=', parentType);
  return q;
}

/** The analyses hung off a container, ordered by id or by creation (a container document embeds them). */
export async function analysesOf(db: Kysely<Database>, parentId: string, order: 'id' | 'created'): Promise<ContainersTable[]> {
  return db.selectFrom('containers').selectAll().where('parent_id', '=', parentId).where('type', '=', 'analysis').orderBy(order).execute();
}

/** The children of one type of a container, with only what a picker shows, by label. */
export async function childLabels(
  db: Kysely<Database>,
  parentId: string,
  type: ContainerType,
): Promise<Pick<ContainersTable, 'id' | 'label' | 'type'>[]> {
  return db
    .selectFrom('containers')
    .select(['id', 'label', 'type'])
    .where('parent_id', '=', parentId)
    .where('type', '=', type)
    .orderBy('label')
    .orderBy('id')
    .execute();
}

/** Containers by id (ids that match nothing are left out). */
export async function containersByIds(db: Kysely<Database>, ids: string[]): Promise<Map<string, ContainersTable>> {
  const rows = new Map<string, ContainersTable>();
  for (let i = 0; i < ids.length; i += 500) {
    for (const r of await db
      .selectFrom('containers')
      .selectAll()
      .where('id', 'in', ids.slice(i, i + 500))
      .execute())
      rows.set(r.id, r);
  }
  return rows;
}

/** What a permission check needs of one container. */
export async function containerRef(db: Kysely<Database>, id: string): Promise<ContainerRef | undefined> {
  return db.selectFrom('containers').select(['id', 'type', 'project_id', 'group_id']).where('id', '=', id).executeTakeFirst();
}

/** What a permission check needs of many containers (ids that match nothing are left out). */
export async function containerRefs(db: Kysely<Database>, ids: string[]): Promise<ContainerRef[]> {
  const out: ContainerRef[] = [];
  for (let i = 0; i < ids.length; i += 500)
    out.push(
      ...(await db
        .selectFrom('containers')
        .select(['id', 'type', 'project_id', 'group_id'])
        .where('id', 'in', ids.slice(i, i + 500))
        .execute()),
    );
  return out;
}

/**
 * Deletes the rows of a subtree (`ids`, from subtreeIds; `projectId` when its root is a project):
 * its files, its containers, their collection memberships and the project's role assignments, in
 * one transaction. `retire` is handed the file keys before any row goes, so the caller can mark
 * the blobs first: a crash after the commit then leaves blobs that recovery removes.
 */
export async function deleteSubtreeRows(
  db: Kysely<Database>,
  ids: string[],
  projectId: string | undefined,
  retire: (fileKeys: string[]) => Promise<void>,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const keys: string[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const files = await trx
        .selectFrom('files')
        .select('id')
        .where('container_id', 'in', ids.slice(i, i + 500))
        .execute();
      keys.push(...files.map((f) => f.id));
    }
    await retire(keys);
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      await trx.deleteFrom('files').where('container_id', 'in', chunk).execute();
      await trx.deleteFrom('containers').where('id', 'in', chunk).execute();
      // Collections hold references: what is gone leaves them too.
      await trx.deleteFrom('collection_members').where('container_id', 'in', chunk).execute();
    }
    if (projectId) await trx.deleteFrom('project_permissions').where('project_id', '=', projectId).execute();
  });
}

/** A container's per-type fields (subject sex, session operator, analysis gear_info …) as a document. */
export function containerFields(row: Pick<ContainersTable, 'fields'>): JsonObject {
  return parseJson<JsonObject>(row.fields, {});
}
