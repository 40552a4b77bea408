import RE2 from 're2';
import type { AccessContext } from '../auth/access.js';
import type { ServerContext } from '../context.js';
import { currentFiles } from '../dao/containers.js';
import { fileDoc } from '../dao/files.js';
import { isPlainObject, type JsonObject, parseJson } from '../dao/json.js';
import type { ContainersTable, Db, FilesTable } from '../dao/rows.js';
import { ApiError, badRequest } from '../errors.js';
import type { FilterTerm } from '../http/filters.js';
import { cachedUserRegex, compileUserRegex, type UserRegex } from '../http/user-regex.js';
import { dataFileFormat, readRecords } from './files.js';
import { type ColumnSpec, type DataViewSpec, type FileSpec, LEVELS, type Level, type NameFilter } from './spec.js';

export type Row = Record<string, unknown>;

const ANCESTOR_COLUMN: Record<Level, 'project_id' | 'subject_id' | 'session_id' | 'acquisition_id'> = {
  project: 'project_id',
  subject: 'subject_id',
  session: 'session_id',
  acquisition: 'acquisition_id',
};

const depth = (l: string) => LEVELS.indexOf(l as Level);

/** The values a column source can reach on a container: its fields, its per-type fields and `info`. */
function containerValues(row: ContainersTable): JsonObject {
  return {
    ...parseJson<JsonObject>(row.fields, {}),
    id: row.id,
    _id: row.id,
    label: row.label,
    ...(row.type === 'subject' ? { code: row.label } : {}),
    uid: row.uid,
    timestamp: row.timestamp,
    tags: parseJson<string[]>(row.tags, []),
    info: parseJson<JsonObject>(row.info, {}),
    created: row.created,
    modified: row.modified,
  };
}

function dig(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

const TRUE = new Set(['true', 'yes', 'y', '1', 't']);
const FALSE = new Set(['false', 'no', 'n', '0', 'f']);

/** A value as the column's type; what cannot be read as that type (or an empty cell) becomes null. */
export function coerce(v: unknown, type: ColumnSpec['type']): unknown {
  if (v === undefined || v === null || !type) return v;
  if (typeof v === 'string' && v.trim() === '' && type !== 'string') return null;
  switch (type) {
    case 'string':
      return typeof v === 'string' ? v : JSON.stringify(v);
    case 'int':
    case 'float': {
      if (typeof v !== 'number' && typeof v !== 'string' && typeof v !== 'boolean') return null;
      const n = Number(v);
      if (!Number.isFinite(n)) return null;
      return type === 'int' ? Math.trunc(n) : n;
    }
    case 'bool': {
      if (typeof v === 'boolean') return v;
      const t = String(v).trim().toLowerCase();
      return TRUE.has(t) ? true : FALSE.has(t) ? false : null;
    }
  }
}

/** Objects become one column per leaf (`file.info.bids_meta.EchoTime`); arrays stay whole. */
function put(row: Row, name: string, value: unknown): void {
  if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) put(row, `${name}.${k}`, v);
  } else row[name] = value;
}

// RE2, as for regex filters: under a backtracking engine a glob of many `*`s costs polynomial time per name.
function globToRegex(glob: string): UserRegex {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RE2(`^${body}$`, 's');
}

function nameMatcher(f: NameFilter | null | undefined, where: string): UserRegex | undefined {
  if (!f) return undefined;
  return f.regex ? compileUserRegex(f.value, '', `${where}.value`) : globToRegex(f.value);
}

const heads = (cols: ColumnSpec[]) => cols.map((c) => c.src.split('.')[0]!);

export interface ViewPlan {
  /** The container level each row (or each row's file holder) sits at. */
  level: Level;
  fileSpec: FileSpec | undefined;
  /** Files come from analyses under the row containers, not from the containers themselves. */
  analyses: boolean;
  nameFilter: UserRegex | undefined;
  analysisFilter: { label?: UserRegex; gearName?: UserRegex; gearVersion?: UserRegex };
  processFiles: boolean;
  /** Container and file-attribute columns, defaults first, then those asked for, in that order. */
  columns: ColumnSpec[];
  explicit: ColumnSpec[];
  /** With processFiles: the record fields asked for; undefined takes every field of each record. */
  fileColumns: ColumnSpec[] | undefined;
}

/**
 * Checks a view without running it (saving and updating check this too); every problem names the
 * field. Returns the plan's target-independent parts.
 */
export function checkView(view: DataViewSpec): Omit<ViewPlan, 'level'> & { level: Level | undefined } {
  // `columns` here are those asked for; planView adds the id and label defaults of the row level.
  const fileSpec = view.fileSpec ?? undefined;
  const analyses = !!fileSpec && (fileSpec.container === 'analysis' || !!fileSpec.analysisFilter);
  for (const [i, c] of view.columns.entries()) {
    const head = c.src.split('.')[0]!;
    if (head === 'file' && !fileSpec) throw badRequest(`columns[${i}].src '${c.src}': file columns need a fileSpec`);
    if (head === 'analysis' && !analyses)
      throw badRequest(`columns[${i}].src '${c.src}': analysis columns need a fileSpec with an analysisFilter (or container 'analysis')`);
    if (c.expr) throw badRequest(`columns[${i}].expr: column expressions are not supported; compute on the result instead`);
  }
  const processFiles = fileSpec?.processFiles === true;
  if (fileSpec?.zipMember) throw badRequest('fileSpec.zipMember: reading members of zip archives is not supported');
  if (fileSpec?.columns?.length && !processFiles)
    throw badRequest('fileSpec.columns: file columns are read from inside files, which needs fileSpec.processFiles: true');
  for (const [i, c] of (fileSpec?.columns ?? []).entries()) {
    if (c.expr) throw badRequest(`fileSpec.columns[${i}].expr: column expressions are not supported; compute on the result instead`);
  }
  if (processFiles && !fileSpec?.filter) throw badRequest("fileSpec.filter: processFiles needs a file name filter (e.g. {value: '*.csv'})");
  if (fileSpec?.formatOptions?.delimiter && fileSpec.format === 'json')
    throw badRequest('fileSpec.formatOptions.delimiter: JSON files have no delimiter');
  const af = fileSpec?.analysisFilter ?? undefined;
  const analysisFilter = {
    label: nameMatcher(af?.label, 'fileSpec.analysisFilter.label'),
    gearName: nameMatcher(af?.['gear.name'], "fileSpec.analysisFilter['gear.name']"),
    gearVersion: nameMatcher(af?.['gear.version'], "fileSpec.analysisFilter['gear.version']"),
  };
  let level: Level | undefined;
  if (fileSpec) level = fileSpec.container === 'analysis' ? 'acquisition' : fileSpec.container;
  else {
    const referenced = heads(view.columns).filter((h) => depth(h) >= 0);
    level = referenced.sort((a, b) => depth(b) - depth(a))[0] as Level | undefined;
  }
  return {
    level,
    fileSpec,
    analyses,
    nameFilter: nameMatcher(fileSpec?.filter, 'fileSpec.filter'),
    analysisFilter,
    processFiles,
    columns: view.columns,
    explicit: view.columns,
    fileColumns: fileSpec?.columns?.length ? fileSpec.columns : undefined,
  };
}

/** Checks a view against the container it runs on; every problem names the column or field. */
export function planView(view: DataViewSpec, target: ContainersTable): ViewPlan {
  if (target.type === 'analysis' || target.type === 'group')
    throw badRequest('containerId: data views run on a project, subject, session or acquisition');
  const checked = checkView(view);
  let level = checked.level ?? 'session';
  if (depth(level) < depth(target.type)) level = target.type as Level;
  // Id and label columns of every level down to the rows', as Flywheel's includeIds/includeLabels
  // (both default true); a default the caller asked for by name keeps the caller's place.
  const defaults: ColumnSpec[] = [];
  for (const l of LEVELS.slice(0, depth(level) + 1)) {
    if (view.includeLabels !== false) defaults.push({ src: `${l}.label` });
    if (view.includeIds !== false) defaults.push({ src: `${l}.id` });
  }
  if (checked.analyses && view.includeLabels !== false) defaults.push({ src: 'analysis.label' });
  if (checked.analyses && view.includeIds !== false) defaults.push({ src: 'analysis.id' });
  if (checked.fileSpec && view.includeLabels !== false) defaults.push({ src: 'file.name' });
  const asked = new Set(view.columns.flatMap((c) => [c.src, c.dst ?? c.src]));
  return { ...checked, level, columns: [...defaults.filter((d) => !asked.has(d.src)), ...view.columns] };
}

function analysisMatches(plan: ViewPlan, a: ContainersTable): boolean {
  const f = plan.analysisFilter;
  const gear = parseJson<JsonObject>(a.fields, {}).gear_info;
  const g = isPlainObject(gear) ? gear : {};
  if (f.label && !f.label.test(a.label)) return false;
  if (f.gearName && !(typeof g.name === 'string' && f.gearName.test(g.name))) return false;
  if (f.gearVersion && !(typeof g.version === 'string' && f.gearVersion.test(g.version))) return false;
  return true;
}

/** True where a row satisfies one `key<op>value` term of the evaluate `filter` parameter. */
export function rowMatches(row: Row, t: FilterTerm): boolean {
  const v = row[t.key];
  // The pattern was checked when the filter was parsed; RE2 keeps each row's match linear in time.
  if (t.op === '=~') return v !== undefined && v !== null && (cachedUserRegex(String(t.value))?.test(String(v)) ?? false);
  if (t.value === null) return t.op === '=' ? v == null : v != null;
  const num = typeof t.value === 'number' && v !== null && v !== '' && Number.isFinite(Number(v));
  const a: number | string = num ? Number(v) : String(v ?? '');
  const b: number | string = num ? (t.value as number) : String(t.value);
  switch (t.op) {
    case '=':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}

function holderName(c: ContainersTable): string {
  return `${c.type} '${c.label}' (${c.id})`;
}

/** One file (or none, without a fileSpec) a view row is made from, with the container holding it. */
interface Candidate {
  file?: FilesTable;
  analysis?: ContainersTable;
  holder: ContainersTable;
}

/** The next page (by id, after `after`) of the containers a view's rows come from: `target` itself or those at the plan's level below it. */
function containerPage(db: Db, plan: ViewPlan, target: ContainersTable, after: string): Promise<ContainersTable[]> {
  let q = db.selectFrom('containers').selectAll().where('type', '=', plan.level);
  q = plan.level === target.type ? q.where('id', '=', target.id) : q.where(ANCESTOR_COLUMN[target.type as Level], '=', target.id);
  return q.where('id', '>', after).orderBy('id').limit(500).execute();
}

/** Adds to `ancestors` the projects, subjects and sessions of the page not yet in it. */
async function loadAncestors(db: Db, page: ContainersTable[], ancestors: Map<string, ContainersTable>): Promise<void> {
  const missing = new Set<string>();
  for (const r of page) for (const id of [r.project_id, r.subject_id, r.session_id]) if (id && !ancestors.has(id)) missing.add(id);
  if (!missing.size) return;
  for (const a of await db
    .selectFrom('containers')
    .selectAll()
    .where('id', 'in', [...missing])
    .execute())
    ancestors.set(a.id, a);
}

/** Analyses as file holders: per row container, those directly under it that pass the analysisFilter. */
async function analysisHolders(db: Db, plan: ViewPlan, page: ContainersTable[]): Promise<Map<string, ContainersTable[]>> {
  const as = await db
    .selectFrom('containers')
    .selectAll()
    .where('type', '=', 'analysis')
    .where(
      'parent_id',
      'in',
      page.map((r) => r.id),
    )
    .orderBy('id')
    .execute();
  const kept = as.filter((a) => analysisMatches(plan, a));
  return new Map(page.map((r) => [r.id, kept.filter((a) => a.parent_id === r.id)]));
}

/** The values of a row container and of its ancestors, by level. */
function rowScope(r: ContainersTable, ancestors: Map<string, ContainersTable>): Record<string, JsonObject> {
  const scope: Record<string, JsonObject> = {};
  for (const l of LEVELS) {
    const id = l === r.type ? r.id : r[ANCESTOR_COLUMN[l]];
    const c = id ? (ancestors.get(id) ?? (id === r.id ? r : undefined)) : undefined;
    if (c) scope[l] = containerValues(c);
  }
  return scope;
}

/** The files a row container yields rows for (itself alone without a fileSpec), as fileSpec's name filter and `match` pick them. */
function fileCandidates(
  plan: ViewPlan,
  r: ContainersTable,
  holders: Map<string, ContainersTable[]>,
  files: Map<string, FilesTable[]>,
): Candidate[] {
  if (!plan.fileSpec) return [{ holder: r }];
  const owners = plan.analyses ? (holders.get(r.id) ?? []) : [r];
  // `match` picks among all matching files of the row container, its analyses' outputs pooled.
  let fs: { file: FilesTable; owner: ContainersTable }[] = [];
  for (const owner of owners)
    for (const f of files.get(owner.id) ?? []) if (!plan.nameFilter || plan.nameFilter.test(f.name)) fs.push({ file: f, owner });
  const match = plan.fileSpec.match ?? 'all';
  if (match !== 'all' && fs.length > 1) {
    const sorted = match === 'newest' || match === 'oldest' ? [...fs].sort((a, b) => a.file.created.localeCompare(b.file.created)) : fs;
    fs = [match === 'first' || match === 'oldest' ? sorted[0]! : sorted[sorted.length - 1]!];
  }
  return fs.map(({ file, owner }) => ({ file, analysis: owner.type === 'analysis' ? owner : undefined, holder: owner }));
}

/** A candidate's row of container and file columns; `missing` when an explicitly asked column has no value. */
function candidateRow(plan: ViewPlan, scope: Record<string, JsonObject>, cand: Candidate): { row: Row; missing: boolean } {
  const sources: Record<string, JsonObject> = { ...scope };
  if (cand.file) sources.file = { ...fileDoc(cand.file, cand.holder, true), id: cand.file.file_id };
  if (cand.analysis) sources.analysis = containerValues(cand.analysis);
  const row: Row = {};
  let missing = false;
  for (const col of plan.columns) {
    const [head, ...path] = col.src.split('.');
    const value = coerce(dig(sources[head!], path), col.type);
    if ((value === undefined || value === null) && plan.explicit.includes(col)) missing = true;
    put(row, col.dst ?? col.src, value ?? null);
  }
  return { row, missing };
}

/** `base` with one record's fields (those asked for, or all); `missing` when one of them has no value. */
function recordRow(plan: ViewPlan, base: Row, missingBefore: boolean, record: Record<string, unknown>): { row: Row; missing: boolean } {
  const row: Row = { ...base };
  let missing = missingBefore;
  if (plan.fileColumns) {
    for (const col of plan.fileColumns) {
      // A field by its name, else a dotted path into nested JSON (`qa_tool.version`).
      const value = coerce(col.src in record ? record[col.src] : dig(record, col.src.split('.')), col.type);
      if (value === undefined || value === null) missing = true;
      put(row, col.dst ?? col.src, value ?? null);
    }
  } else {
    for (const [k, v] of Object.entries(record)) {
      if (v === null) missing = true;
      put(row, k, v);
    }
  }
  return { row, missing };
}

/**
 * Yields the rows of a view over `target`, reading containers in pages so memory stays flat on
 * any project size. Access was checked on `target`: everything below it shares its project.
 * With processFiles each matching file is read as it is reached, within `limits`.
 */
export async function* evaluateView(
  ctx: ServerContext,
  _access: AccessContext,
  view: DataViewSpec,
  target: ContainersTable,
  rowFilter: FilterTerm[] = [],
): AsyncGenerator<Row> {
  const { db } = ctx.handle;
  const limits = ctx.config.viewLimits;
  const plan = planView(view, target);
  const ancestors = new Map<string, ContainersTable>([[target.id, target]]);
  const dropMissing = view.missingDataStrategy === 'drop-row';
  const kept = (row: Row, missing: boolean) => !(missing && dropMissing) && rowFilter.every((t) => rowMatches(row, t));
  let recordsRead = 0;
  let after = '';
  for (;;) {
    const page = await containerPage(db, plan, target, after);
    if (!page.length) return;
    after = page[page.length - 1]!.id;
    await loadAncestors(db, page, ancestors);
    const holders = plan.analyses ? await analysisHolders(db, plan, page) : new Map<string, ContainersTable[]>();
    const fileHolders = plan.analyses ? [...holders.values()].flat().map((a) => a.id) : page.map((r) => r.id);
    const files = plan.fileSpec ? await currentFiles(db, fileHolders) : new Map<string, FilesTable[]>();

    for (const r of page) {
      const scope = rowScope(r, ancestors);
      for (const cand of fileCandidates(plan, r, holders, files)) {
        const base = candidateRow(plan, scope, cand);
        if (!plan.processFiles || !cand.file) {
          if (kept(base.row, base.missing)) yield base.row;
          continue;
        }
        for await (const record of fileRecords(ctx, plan.fileSpec!, cand.file, cand.holder, limits.maxFileBytes)) {
          if (++recordsRead > limits.maxRows) {
            throw new ApiError(
              'PAYLOAD_TOO_LARGE',
              `fileSpec: the view reads more than ${limits.maxRows} records (reached in file '${cand.file.name}' on ${holderName(cand.holder)}); narrow fileSpec.filter or run it on a smaller container (SPROCKET_VIEW_MAX_ROWS)`,
            );
          }
          const { row, missing } = recordRow(plan, base.row, base.missing, record);
          if (kept(row, missing)) yield row;
        }
      }
    }
  }
}

/** The records of one matching file; a file too large or of no readable format is refused by name. */
function fileRecords(
  ctx: ServerContext,
  spec: FileSpec,
  f: FilesTable,
  holder: ContainersTable,
  maxBytes: number,
): AsyncGenerator<Record<string, unknown>> {
  const where = `fileSpec: file '${f.name}' on ${holderName(holder)}`;
  const how = dataFileFormat(f.name, spec.format);
  if (!how)
    throw badRequest(
      `${where}: processFiles reads CSV (.csv), TSV (.tsv) and JSON (.json) files, optionally .gz; set fileSpec.format or narrow fileSpec.filter`,
    );
  if (f.size > maxBytes) {
    throw new ApiError(
      'PAYLOAD_TOO_LARGE',
      `${where}: ${f.size} bytes; processFiles reads files up to ${maxBytes} bytes (SPROCKET_VIEW_MAX_FILE_BYTES)`,
    );
  }
  return readRecords(ctx.store.open(f.id), { ...how, delimiter: spec.formatOptions?.delimiter }, maxBytes, where);
}
