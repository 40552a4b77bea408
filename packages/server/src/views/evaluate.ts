import type { AccessContext } from '../auth/access.js';
import type { ServerContext } from '../context.js';
import { currentFiles } from '../dao/containers.js';
import { fileDoc } from '../dao/files.js';
import { type JsonObject, isPlainObject, parseJson } from '../dao/json.js';
import type { ContainersTable, FilesTable } from '../db/schema.js';
import { badRequest } from '../errors.js';
import type { FilterTerm } from '../http/filters.js';
import RE2 from 're2';
import { cachedUserRegex, compileUserRegex, type UserRegex } from '../http/user-regex.js';
import { type ColumnSpec, type DataViewSpec, LEVELS, type Level } from './spec.js';

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

function coerce(v: unknown, type: ColumnSpec['type']): unknown {
  if (v === undefined || v === null || !type) return v;
  switch (type) {
    case 'string':
      return typeof v === 'string' ? v : JSON.stringify(v);
    case 'int': {
      const n = Number(v);
      return Number.isFinite(n) ? Math.trunc(n) : null;
    }
    case 'float': {
      const n = Number(v);
      return Number.isFinite(n) ? n : null;
    }
    case 'bool':
      return v === true || v === 'true' || v === 1 || v === '1';
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
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RE2(`^${body}$`);
}

/** Checks a view before running it; every problem names the column or field. */
export function planView(view: DataViewSpec, target: ContainersTable) {
  const fileSpec = view.fileSpec ?? undefined;
  for (const [i, c] of view.columns.entries()) {
    const head = c.src.split('.')[0]!;
    if ((head === 'file' && !fileSpec) || (head === 'analysis' && fileSpec?.container !== 'analysis')) {
      throw badRequest(`columns[${i}].src '${c.src}': ${head} columns need a fileSpec${head === 'analysis' ? " with container 'analysis'" : ''}`);
    }
  }
  let level: Level;
  if (fileSpec) level = fileSpec.container === 'analysis' ? 'acquisition' : fileSpec.container;
  else {
    const referenced = view.columns.map((c) => c.src.split('.')[0]!).filter((h) => depth(h) >= 0);
    level = (referenced.sort((a, b) => depth(b) - depth(a))[0] as Level | undefined) ?? 'session';
  }
  if (target.type === 'analysis') throw badRequest('containerId: data views run on a project, subject, session or acquisition');
  if (depth(level) < depth(target.type)) level = target.type as Level;
  let nameFilter: UserRegex | undefined;
  if (fileSpec?.filter) {
    nameFilter = fileSpec.filter.regex ? compileUserRegex(fileSpec.filter.value, '', 'fileSpec.filter.value') : globToRegex(fileSpec.filter.value);
  }
  const defaults: ColumnSpec[] = [];
  for (const l of LEVELS.slice(0, depth(level) + 1)) {
    if (view.includeLabels !== false) defaults.push({ src: `${l}.label` });
    if (view.includeIds !== false) defaults.push({ src: `${l}.id` });
  }
  if (fileSpec?.container === 'analysis' && view.includeLabels !== false) defaults.push({ src: 'analysis.label' });
  if (fileSpec && view.includeLabels !== false) defaults.push({ src: 'file.name' });
  const explicit = new Set(view.columns.map((c) => c.dst ?? c.src));
  const columns = [...defaults.filter((d) => !explicit.has(d.src)), ...view.columns];
  return { level, fileSpec, nameFilter, columns, explicit: view.columns };
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

/**
 * Yields the rows of a view over `target`, reading containers in pages so memory stays flat on
 * any project size. Access was checked on `target`: everything below it shares its project.
 */
export async function* evaluateView(ctx: ServerContext, _access: AccessContext, view: DataViewSpec, target: ContainersTable, rowFilter: FilterTerm[] = []): AsyncGenerator<Row> {
  const { db } = ctx.handle;
  const plan = planView(view, target);
  const ancestors = new Map<string, ContainersTable>([[target.id, target]]);
  const targetColumn = ANCESTOR_COLUMN[target.type as Level];
  let after = '';
  for (;;) {
    let q = db.selectFrom('containers').selectAll().where('type', '=', plan.level);
    q = plan.level === target.type ? q.where('id', '=', target.id) : q.where(targetColumn, '=', target.id);
    const page = await q.where('id', '>', after).orderBy('id').limit(500).execute();
    if (!page.length) return;
    after = page[page.length - 1]!.id;

    const missing = new Set<string>();
    for (const r of page) for (const id of [r.project_id, r.subject_id, r.session_id]) if (id && !ancestors.has(id)) missing.add(id);
    if (missing.size) for (const a of await db.selectFrom('containers').selectAll().where('id', 'in', [...missing]).execute()) ancestors.set(a.id, a);

    // Analyses as row holders: their files hang off analyses whose parent is the row container.
    let holders = new Map<string, ContainersTable[]>();
    if (plan.fileSpec?.container === 'analysis') {
      const as = await db.selectFrom('containers').selectAll().where('type', '=', 'analysis').where('parent_id', 'in', page.map((r) => r.id)).orderBy('id').execute();
      holders = new Map(page.map((r) => [r.id, as.filter((a) => a.parent_id === r.id)]));
    }
    const fileHolders = plan.fileSpec?.container === 'analysis' ? [...holders.values()].flat().map((a) => a.id) : page.map((r) => r.id);
    const files = plan.fileSpec ? await currentFiles(db, fileHolders) : new Map<string, FilesTable[]>();

    for (const r of page) {
      const scope: Record<string, JsonObject> = {};
      for (const l of LEVELS) {
        const id = l === r.type ? r.id : r[ANCESTOR_COLUMN[l]];
        const c = id ? ancestors.get(id) ?? (id === r.id ? r : undefined) : undefined;
        if (c) scope[l] = containerValues(c);
      }
      const candidates: { file?: FilesTable; analysis?: ContainersTable; holder: ContainersTable }[] = [];
      if (!plan.fileSpec) candidates.push({ holder: r });
      else {
        const owners = plan.fileSpec.container === 'analysis' ? holders.get(r.id) ?? [] : [r];
        for (const owner of owners) {
          let fs = (files.get(owner.id) ?? []).filter((f) => !plan.nameFilter || plan.nameFilter.test(f.name));
          const match = plan.fileSpec.match ?? 'all';
          if (match !== 'all' && fs.length > 1) {
            const sorted = match === 'newest' || match === 'oldest' ? [...fs].sort((a, b) => a.created.localeCompare(b.created)) : fs;
            fs = [match === 'first' || match === 'oldest' ? sorted[0]! : sorted[sorted.length - 1]!];
          }
          for (const f of fs) candidates.push({ file: f, analysis: owner.type === 'analysis' ? owner : undefined, holder: owner });
        }
      }
      for (const cand of candidates) {
        const sources: Record<string, JsonObject> = { ...scope };
        if (cand.file) sources.file = { ...fileDoc(cand.file, cand.holder, true), id: cand.file.file_id };
        if (cand.analysis) sources.analysis = containerValues(cand.analysis);
        const row: Row = {};
        let missingValue = false;
        for (const col of plan.columns) {
          const [head, ...path] = col.src.split('.');
          const value = coerce(dig(sources[head!], path), col.type);
          if ((value === undefined || value === null) && plan.explicit.includes(col)) missingValue = true;
          put(row, col.dst ?? col.src, value ?? null);
        }
        if (missingValue && view.missingDataStrategy === 'drop-row') continue;
        if (rowFilter.every((t) => rowMatches(row, t))) yield row;
      }
    }
  }
}
