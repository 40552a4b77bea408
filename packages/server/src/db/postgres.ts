import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { DatabaseHandle, SqlDialect } from './dialect.js';
import type { Database } from './schema.js';

// int8 (file sizes, counts) arrives as text by default; every value we store fits a JS number.
pg.types.setTypeParser(20, (v) => Number(v));

function pathArray(parts: readonly string[]): string {
  return `{${parts.map((p) => `"${p.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`;
}

export const postgresDialect: SqlDialect = {
  name: 'postgres',
  jsonText(column, parts) {
    const p = pathArray(parts);
    return sql<string | null>`(case when jsonb_typeof(${sql.ref(column)}::jsonb #> ${p}::text[]) in ('object','array') then null else (${sql.ref(column)}::jsonb #>> ${p}::text[]) end)`;
  },
  jsonNumber(column, parts) {
    const p = pathArray(parts);
    return sql<number | null>`(case when jsonb_typeof(${sql.ref(column)}::jsonb #> ${p}::text[]) = 'number' then (${sql.ref(column)}::jsonb #>> ${p}::text[])::double precision end)`;
  },
  jsonArrayContains(column, value) {
    return sql<boolean>`(${sql.ref(column)}::jsonb ? ${value})`;
  },
  regexMatch(expr, pattern) {
    const e = typeof expr === 'string' ? sql.ref(expr) : expr;
    return sql<boolean>`(${e} ~ ${pattern})`;
  },
};

export function openPostgres(url: string): DatabaseHandle {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    dialect: postgresDialect,
    async close() {
      await db.destroy();
    },
  };
}
