import { type Static, Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { type Expression, type SelectQueryBuilder, sql } from 'kysely';
import { type SqlDialect, USER_REGEX_TIMEOUT_MS } from '../db/dialect.js';
import { ApiError } from '../errors.js';
import { type FieldRef, type FieldResolver, type FilterTerm, parseFilter, parseSort, type SortKey, termToSql } from './filters.js';

/** The query parameters every list endpoint takes, checked together as Flywheel does. */
export interface ListParams {
  filter: FilterTerm[];
  sort: SortKey[];
  limit?: number;
  skip?: number;
  afterId?: string;
  /** `X-Accept-Feature: pagination`: answer `{results, total, count}` instead of a bare array. */
  envelope: boolean;
}

const MAX_ROWS = 2 ** 31 - 1;

/** The list parameters' properties, to spread into a route's own querystring schema. */
export const LIST_QUERY = {
  filter: Type.Optional(Type.String()),
  sort: Type.Optional(Type.String()),
  // Bounded so LIMIT/OFFSET stay within what both databases take.
  limit: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_ROWS })),
  skip: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_ROWS })),
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_ROWS })),
  after_id: Type.Optional(Type.String()),
};
/** The querystring of a list route that takes nothing else. */
export const listQuery = Type.Object(LIST_QUERY);
export type ListQuery = Static<typeof listQuery>;

/** What parseListParams reads of a request: its (validated) list parameters and the feature header. */
export interface ListRequest {
  query: ListQuery;
  headers: FastifyRequest['headers'];
}

export function acceptsFeature(req: Pick<FastifyRequest, 'headers'>, feature: string): boolean {
  const h = req.headers['x-accept-feature'];
  const values = (Array.isArray(h) ? h.join(' ') : (h ?? '')).toLowerCase().split(/[\s,]+/);
  return values.includes(feature.toLowerCase());
}

export function parseListParams(req: ListRequest): ListParams {
  const q = req.query;
  const sort = q.sort ? parseSort(q.sort) : [];
  const hasAfter = q.after_id !== undefined;
  if (hasAfter && (sort.length || q.page !== undefined || q.skip !== undefined)) {
    throw new ApiError('BAD_REQUEST', 'after_id cannot be combined with sort, page or skip');
  }
  if (q.page !== undefined && q.skip !== undefined) throw new ApiError('BAD_REQUEST', 'page and skip cannot be combined');
  if (q.page !== undefined && q.limit === undefined) throw new ApiError('BAD_REQUEST', 'page requires limit');
  const skip = q.page !== undefined ? (q.page - 1) * (q.limit ?? 0) : q.skip;
  if (skip !== undefined && skip > MAX_ROWS)
    throw new ApiError('BAD_REQUEST', `page ${q.page} with limit ${q.limit} skips past the last row anyone can have`);
  return {
    filter: q.filter ? parseFilter(q.filter) : [],
    sort,
    limit: q.limit,
    skip,
    afterId: hasAfter && q.after_id !== '' ? q.after_id : undefined,
    envelope: acceptsFeature(req, 'pagination'),
  };
}

const NOT_NULL_COLUMNS = new Set(['id', 'label', 'type', 'created', 'modified', 'group_id', 'parent_id', 'parent_type']);

/**
 * The ORDER BY keys of one sort field, in MongoDB's order so both databases agree: missing/null
 * first (ascending), then numbers by value, then text. SQLite and PostgreSQL place NULLs at opposite
 * ends on their own, and JSON numbers compared as text would put 10 before 9.
 */
function sortExpressions(dialect: SqlDialect, f: FieldRef): Expression<unknown>[] {
  if (f.kind === 'json') {
    const num = dialect.jsonNumber(f.column, f.path);
    const text = dialect.jsonText(f.column, f.path);
    return [sql`(case when ${num} is not null then 1 when ${text} is not null then 2 else 0 end)`, num, text];
  }
  const ref = sql.ref(f.column);
  if (NOT_NULL_COLUMNS.has(f.column.split('.').pop()!)) return [ref];
  return [sql`(case when ${ref} is null then 0 else 1 end)`, ref];
}

/**
 * Applies filter, sort and paging to a query whose rows have an `id` column; returns the page
 * and, when the envelope was asked for, the total before paging.
 */
// biome-ignore lint/suspicious/noExplicitAny: the helper works over any table with an id column
export async function runList<QB extends SelectQueryBuilder<any, any, any>>(
  qb: QB,
  params: ListParams,
  dialect: SqlDialect,
  resolve: FieldResolver,
  idColumn = 'id',
): Promise<{ rows: Awaited<ReturnType<QB['execute']>>; total?: number }> {
  try {
    return await listRows(qb, params, dialect, resolve, idColumn);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const terms = () => params.filter.filter((t) => t.op === '=~').map((t) => `'${t.key}=~${t.raw}'`);
    // RE2 checked the patterns at parse time; PostgreSQL's regex dialect may still refuse one.
    if (code === '2201B') throw new ApiError('INVALID_FILTER', `filter term ${terms().join(', ')}: ${(e as Error).message}`);
    // 57014 (query_canceled): the statement_timeout that bounds statements carrying user patterns.
    if (code === '57014' && terms().length) {
      throw new ApiError(
        'INVALID_FILTER',
        `filter term ${terms().join(', ')}: the database stopped matching after ${USER_REGEX_TIMEOUT_MS / 1000} s; use a simpler regular expression or narrow the listing`,
      );
    }
    throw e;
  }
}

// biome-ignore lint/suspicious/noExplicitAny: as above
async function listRows<QB extends SelectQueryBuilder<any, any, any>>(
  qb: QB,
  params: ListParams,
  dialect: SqlDialect,
  resolve: FieldResolver,
  idColumn: string,
): Promise<{ rows: Awaited<ReturnType<QB['execute']>>; total?: number }> {
  let q = qb;
  for (const term of params.filter) q = q.where(termToSql(dialect, resolve, term)) as QB;
  let total: number | undefined;
  if (params.envelope) {
    const c = await q.clearSelect().select(sql<number>`count(*)`.as('n')).executeTakeFirst();
    total = Number((c as { n: number } | undefined)?.n ?? 0);
  }
  if (params.afterId !== undefined) q = q.where(sql.ref(idColumn), '>', params.afterId) as QB;
  for (const s of params.sort) {
    const f = resolve(s.key);
    if (!f) throw new ApiError('BAD_REQUEST', `sort: unknown field '${s.key}'`);
    for (const expr of sortExpressions(dialect, f)) q = q.orderBy(expr, s.dir) as QB;
  }
  q = q.orderBy(sql.ref(idColumn), 'asc') as QB;
  if (params.limit !== undefined) q = q.limit(params.limit) as QB;
  if (params.skip) {
    if (params.limit === undefined) q = q.limit(-1 >>> 1) as QB;
    q = q.offset(params.skip) as QB;
  }
  const rows = (await q.execute()) as Awaited<ReturnType<QB['execute']>>;
  return { rows, total };
}

export function listReply<T>(params: ListParams, results: T[], total?: number): T[] | { results: T[]; total: number; count: number } {
  return params.envelope ? { results, total: total ?? results.length, count: results.length } : results;
}
