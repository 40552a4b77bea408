import { type Expression, type SqlBool, sql } from 'kysely';
import type { SqlDialect } from '../db/dialect.js';
import { ApiError } from '../errors.js';
import { userRegexProblem } from './user-regex.js';

/**
 * Flywheel's list filter language: `key<op>value` terms joined by commas (AND). Operators are
 * matched longest first; values are coerced as Flywheel does (quoted → string, numbers, booleans,
 * null, dates). A comma inside a value is written `\,`.
 */
export type FilterOp = '=' | '!=' | '<' | '<=' | '>' | '>=' | '=~';
export type FilterValue = string | number | boolean | null;
export interface FilterTerm {
  key: string;
  op: FilterOp;
  value: FilterValue;
  raw: string;
}

const OPS: FilterOp[] = ['=~', '!=', '<=', '>=', '=', '<', '>'];
const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function splitTerms(filter: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < filter.length; i++) {
    const c = filter[i]!;
    if (c === '\\' && filter[i + 1] === ',') {
      cur += ',';
      i++;
    } else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.filter((t) => t.trim() !== '');
}

function coerce(raw: string, op: FilterOp): FilterValue {
  if (op === '=~') return raw;
  if (/^".*"$/.test(raw) || /^'.*'$/.test(raw)) return raw.slice(1, -1);
  if (raw === 'null') return null;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^-?(\d+\.?\d*|\.\d+)(e-?\d+)?$/i.test(raw)) return Number(raw);
  return raw;
}

export function parseFilter(filter: string): FilterTerm[] {
  return splitTerms(filter).map((term) => {
    for (const op of OPS) {
      const i = term.indexOf(op);
      if (i <= 0) continue;
      // The key never contains operator characters, so the first operator position found splits key and value.
      const key = term.slice(0, i).trim();
      if (/[=!<>~]/.test(key)) continue;
      if (!KEY.test(key)) throw new ApiError('INVALID_FILTER', `filter term '${term}': invalid key '${key}'`);
      const raw = term.slice(i + op.length).trim();
      if (op === '=~') {
        const problem = userRegexProblem(raw);
        if (problem) throw new ApiError('INVALID_FILTER', `filter term '${term}': ${problem}`);
      }
      return { key, op, value: coerce(raw, op), raw };
    }
    throw new ApiError('INVALID_FILTER', `filter term '${term}' has no known operator (=, !=, <, <=, >, >=, =~)`);
  });
}

/** How a filter key maps onto a table: a plain column, a JSON column path, or a JSON array column. */
export type FieldRef =
  | { kind: 'column'; column: string; numeric?: boolean }
  | { kind: 'json'; column: string; path: string[] }
  | { kind: 'array'; column: string };

export type FieldResolver = (key: string) => FieldRef | undefined;

function compare(lhs: Expression<unknown>, op: FilterOp, value: FilterValue): Expression<SqlBool> {
  if (value === null) {
    if (op === '=') return sql<SqlBool>`${lhs} is null`;
    if (op === '!=') return sql<SqlBool>`${lhs} is not null`;
    throw new ApiError('INVALID_FILTER', `operator ${op} cannot compare with null`);
  }
  const v = typeof value === 'boolean' ? (value ? 'true' : 'false') : value;
  switch (op) {
    case '=':
      return sql<SqlBool>`${lhs} = ${v}`;
    case '!=':
      return sql<SqlBool>`(${lhs} is null or ${lhs} <> ${v})`;
    case '<':
      return sql<SqlBool>`${lhs} < ${v}`;
    case '<=':
      return sql<SqlBool>`${lhs} <= ${v}`;
    case '>':
      return sql<SqlBool>`${lhs} > ${v}`;
    case '>=':
      return sql<SqlBool>`${lhs} >= ${v}`;
    default:
      throw new ApiError('INVALID_FILTER', `operator ${op} not supported here`);
  }
}

const DATE_TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * `created`/`modified` are stored as UTC ISO strings (`2024-05-01T10:00:00.000Z`), which compare
 * correctly as text. A filter date in another zone or precision is brought to that form first, as
 * Flywheel parses filter dates into datetimes; a value without a zone is read as UTC.
 */
function asStoredTime(term: FilterTerm, value: string): string {
  const m = DATE_TIME.exec(value);
  if (!m) return value;
  const t = Date.parse(m[2] ? `${m[1]}T${m[2]}${m[3] ?? 'Z'}` : `${m[1]}T00:00:00Z`);
  if (Number.isNaN(t))
    throw new ApiError('INVALID_FILTER', `filter term '${term.key}${term.op}${term.raw}': '${value}' is not a valid date`);
  return new Date(t).toISOString();
}

/** Builds the SQL condition for one term. */
export function termToSql(dialect: SqlDialect, resolve: FieldResolver, term: FilterTerm): Expression<SqlBool> {
  const field = resolve(term.key);
  if (!field) throw new ApiError('INVALID_FILTER', `filter term '${term.key}${term.op}${term.raw}': unknown field '${term.key}'`);
  if (field.kind === 'array') {
    if (term.op === '=~') {
      // Regex over array members: any member matching.
      return sql<SqlBool>`(${sql.ref(field.column)} <> '[]' and ${dialect.regexMatch(sql.ref(field.column) as never, term.value as string)})`;
    }
    if (term.op !== '=' && term.op !== '!=') throw new ApiError('INVALID_FILTER', `field '${term.key}' only supports =, != and =~`);
    const has = dialect.jsonArrayContains(field.column, String(term.value));
    return term.op === '=' ? has : sql<SqlBool>`not ${has}`;
  }
  if (term.value === null && term.op !== '=' && term.op !== '!=') {
    throw new ApiError('INVALID_FILTER', `filter term '${term.key}${term.op}${term.raw}': only = and != compare with null`);
  }
  const numeric = typeof term.value === 'number';
  let lhs: Expression<unknown>;
  if (field.kind === 'json') {
    lhs = numeric ? dialect.jsonNumber(field.column, field.path) : dialect.jsonText(field.column, field.path);
  } else {
    lhs = sql.ref(field.column);
  }
  if (term.op === '=~') return dialect.regexMatch(lhs as never, term.value as string);
  let value = term.value;
  // Plain text columns compare as text: a label "007" must match filter label=007.
  if (field.kind === 'column' && !field.numeric && typeof value === 'number') value = term.raw;
  if (field.kind === 'column' && typeof value === 'string' && /(^|\.)(created|modified)$/.test(field.column))
    value = asStoredTime(term, value);
  if (field.kind === 'json' && typeof value === 'boolean') {
    lhs = dialect.jsonText(field.column, field.path);
  }
  return compare(lhs, term.op, value);
}

export interface SortKey {
  key: string;
  dir: 'asc' | 'desc';
}

export function parseSort(sort: string): SortKey[] {
  return sort
    .split(',')
    .filter(Boolean)
    .map((part) => {
      const [key, dirRaw] = part.split(':');
      const d = (dirRaw ?? 'asc').toLowerCase();
      if (!key || !KEY.test(key)) throw new ApiError('BAD_REQUEST', `sort: invalid key '${key ?? ''}'`);
      if (!['asc', 'desc', '1', '-1'].includes(d)) throw new ApiError('BAD_REQUEST', `sort: invalid direction '${dirRaw}' for '${key}'`);
      return { key, dir: d === 'desc' || d === '-1' ? 'desc' : 'asc' };
    });
}
