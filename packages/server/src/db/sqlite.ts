import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import RE2 from 're2';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../config.js';
import type { DatabaseHandle, SqlDialect } from './dialect.js';
import type { Database, JobsTable } from './schema.js';

function jsonPath(parts: readonly string[]): string {
  return `$${parts.map((p) => `."${p.replaceAll('"', '""')}"`).join('')}`;
}

// User filters (`label=~…`) reach SQL through regexp(); RE2 matches in time linear in the value,
// so no pattern can stall the server's thread, which this function runs on.
const regexCache = new Map<string, RE2 | null>();
function compiled(pattern: string): RE2 | null {
  let re = regexCache.get(pattern);
  if (re === undefined) {
    try {
      re = new RE2(pattern);
    } catch {
      re = null;
    }
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(pattern, re);
  }
  return re;
}

export const sqliteDialect: SqlDialect = {
  name: 'sqlite',
  jsonText(column, parts) {
    const p = jsonPath(parts);
    // json_extract gives 1/0 for JSON booleans; text must read 'true'/'false' as on PostgreSQL.
    return sql<
      string | null
    >`(case json_type(${sql.ref(column)}, ${p}) when 'object' then null when 'array' then null when 'true' then 'true' when 'false' then 'false' else cast(json_extract(${sql.ref(column)}, ${p}) as text) end)`;
  },
  jsonNumber(column, parts) {
    const p = jsonPath(parts);
    return sql<
      number | null
    >`(case when json_type(${sql.ref(column)}, ${p}) in ('integer','real') then json_extract(${sql.ref(column)}, ${p}) end)`;
  },
  jsonArrayContains(column, value) {
    return sql<boolean>`exists (select 1 from json_each(${sql.ref(column)}) where json_each.value = ${value})`;
  },
  regexMatch(expr, pattern) {
    const e = typeof expr === 'string' ? sql.ref(expr) : expr;
    return sql<boolean>`regexp(${pattern}, ${e})`;
  },
  jsonArrayWithin(column, values) {
    if (!values.length) return sql<boolean>`(json_array_length(${sql.ref(column)}) = 0)`;
    return sql<boolean>`not exists (select 1 from json_each(${sql.ref(column)}) where json_each.value not in (${sql.join(values.map((v) => sql`${v}`))}))`;
  },
  async claimJobs(db, c) {
    // One UPDATE … RETURNING: SQLite runs it under the database's single write lock, so the
    // subquery's pick and the state change cannot interleave with another claim.
    const rows = await db
      .updateTable('jobs')
      .set({ state: 'running', device_id: c.deviceId, claimed_by: c.claimedBy, heartbeat: c.stamp, t_running: c.stamp, modified: c.stamp })
      .where('state', '=', 'pending')
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('jobs')
          .select('id')
          .where('state', '=', 'pending')
          .where(c.where)
          .orderBy('priority_rank', 'desc')
          .orderBy('created', 'asc')
          .orderBy('id', 'asc')
          .limit(c.limit),
      )
      .returningAll()
      .execute();
    return rows as JobsTable[];
  },
};

export function openSqlite(file: string): DatabaseHandle {
  if (file !== ':memory:') {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
    // SQLite would create the database 0644, and it gives -wal and -shm the database's mode: made
    // 0600 first (and narrowed if older), all three stay readable by the server's user only.
    fs.closeSync(fs.openSync(file, 'a', PRIVATE_FILE_MODE));
    for (const f of [file, `${file}-wal`, `${file}-shm`]) if (fs.existsSync(f)) fs.chmodSync(f, PRIVATE_FILE_MODE);
  }
  const raw = new SQLite(file);
  // WAL lets readers run beside the single writer; FULL sync makes every acknowledged commit durable.
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = FULL');
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 5000');
  raw.function('regexp', { deterministic: true }, (pattern: unknown, value: unknown) => {
    if (value === null || value === undefined) return 0;
    const re = compiled(String(pattern));
    return re?.test(String(value)) ? 1 : 0;
  });
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) });
  return {
    db,
    dialect: sqliteDialect,
    async close() {
      await db.destroy();
    },
  };
}
