import type { FastifyRequest } from 'fastify';
import { type SelectQueryBuilder, sql } from 'kysely';
import type { SqlDialect } from '../db/dialect.js';
import { ApiError } from '../errors.js';
import { type FieldResolver, type FilterTerm, parseFilter, parseSort, type SortKey, termToSql } from './filters.js';

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

export const LIST_QUERY = {
  filter: { type: 'string' },
  sort: { type: 'string' },
  limit: { type: 'integer', minimum: 0 },
  skip: { type: 'integer', minimum: 0 },
  page: { type: 'integer', minimum: 1 },
  after_id: { type: 'string' },
} as const;

export interface ListQuery {
  filter?: string;
  sort?: string;
  limit?: number;
  skip?: number;
  page?: number;
  after_id?: string;
}

export function acceptsFeature(req: FastifyRequest, feature: string): boolean {
  const h = req.headers['x-accept-feature'];
  const values = (Array.isArray(h) ? h.join(' ') : (h ?? '')).toLowerCase().split(/[\s,]+/);
  return values.includes(feature.toLowerCase());
}

export function parseListParams(req: FastifyRequest): ListParams {
  const q = req.query as ListQuery;
  const sort = q.sort ? parseSort(q.sort) : [];
  const hasAfter = q.after_id !== undefined;
  if (hasAfter && (sort.length || q.page !== undefined || q.skip !== undefined)) {
    throw new ApiError('BAD_REQUEST', 'after_id cannot be combined with sort, page or skip');
  }
  if (q.page !== undefined && q.skip !== undefined) throw new ApiError('BAD_REQUEST', 'page and skip cannot be combined');
  if (q.page !== undefined && q.limit === undefined) throw new ApiError('BAD_REQUEST', 'page requires limit');
  const skip = q.page !== undefined ? (q.page - 1) * (q.limit ?? 0) : q.skip;
  return {
    filter: q.filter ? parseFilter(q.filter) : [],
    sort,
    limit: q.limit,
    skip,
    afterId: hasAfter && q.after_id !== '' ? q.after_id : undefined,
    envelope: acceptsFeature(req, 'pagination'),
  };
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
  let q = qb;
  for (const term of params.filter) q = q.where(termToSql(dialect, resolve, term)) as QB;
  let total: number | undefined;
  if (params.envelope) {
    const c = await q
      .clearSelect()
      .select(sql<number>`count(*)`.as('n'))
      .executeTakeFirst();
    total = Number((c as { n: number } | undefined)?.n ?? 0);
  }
  if (params.afterId !== undefined) q = q.where(sql.ref(idColumn), '>', params.afterId) as QB;
  for (const s of params.sort) {
    const f = resolve(s.key);
    if (!f) throw new ApiError('BAD_REQUEST', `sort: unknown field '${s.key}'`);
    const expr = f.kind === 'json' ? dialect.jsonText(f.column, f.path) : sql.ref(f.column);
    q = q.orderBy(expr, s.dir) as QB;
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
