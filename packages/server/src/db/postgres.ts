import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { type DatabaseHandle, type SqlDialect, USER_REGEX_TIMEOUT_MS } from './dialect.js';
import type { Database, JobsTable } from './schema.js';

// int8 (file sizes, counts) arrives as text by default; every value we store fits a JS number.
pg.types.setTypeParser(20, (v) => Number(v));

function pathArray(parts: readonly string[]): string {
  return `{${parts.map((p) => `"${p.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`;
}

// The statement_timeout of statements carrying a user's regex (see USER_REGEX_TIMEOUT_MS in dialect.ts).
export { USER_REGEX_TIMEOUT_MS };

const USER_REGEX_MARK = '/* sprocket:user-regex */';

export const postgresDialect: SqlDialect = {
  name: 'postgres',
  jsonText(column, parts) {
    const p = pathArray(parts);
    return sql<
      string | null
    >`(case when jsonb_typeof(${sql.ref(column)}::jsonb #> ${p}::text[]) in ('object','array') then null else (${sql.ref(column)}::jsonb #>> ${p}::text[]) end)`;
  },
  jsonNumber(column, parts) {
    const p = pathArray(parts);
    return sql<
      number | null
    >`(case when jsonb_typeof(${sql.ref(column)}::jsonb #> ${p}::text[]) = 'number' then (${sql.ref(column)}::jsonb #>> ${p}::text[])::double precision end)`;
  },
  jsonArrayContains(column, value) {
    return sql<boolean>`(${sql.ref(column)}::jsonb ? ${value})`;
  },
  regexMatch(expr, pattern) {
    const e = typeof expr === 'string' ? sql.ref(expr) : expr;
    // The marker puts the statement under USER_REGEX_TIMEOUT_MS (see boundUserRegexStatements).
    return sql<boolean>`(${e} ~ ${pattern} ${sql.raw(USER_REGEX_MARK)})`;
  },
  jsonArrayWithin(column, values) {
    return sql<boolean>`(${sql.ref(column)}::jsonb <@ ${JSON.stringify(values)}::jsonb)`;
  },
  async claimJobs(db, c) {
    // SKIP LOCKED lets concurrent claimers pass over rows another transaction is taking; the outer
    // `state = 'pending'` is re-checked on the locked row, so a job can never be taken twice.
    // `= any(array(…))` runs the pick once: as `in (…)` the planner may rescan it per outer row,
    // and each rescan skips the rows it just locked, claiming more than `limit` jobs.
    const pick = db
      .selectFrom('jobs')
      .select('id')
      .where('state', '=', 'pending')
      .where(c.where)
      .orderBy('priority_rank', 'desc')
      .orderBy('created', 'asc')
      .orderBy('id', 'asc')
      .limit(c.limit)
      .forUpdate()
      .skipLocked();
    const rows = await db
      .updateTable('jobs')
      .set({ state: 'running', device_id: c.deviceId, claimed_by: c.claimedBy, heartbeat: c.stamp, t_running: c.stamp, modified: c.stamp })
      .where('state', '=', 'pending')
      .where(sql<boolean>`id = any(array(${pick}))`)
      .returningAll()
      .execute();
    return rows as JobsTable[];
  },
};

const CHANNEL = /^[a-z_][a-z0-9_]*$/;

/** Wraps each new pooled client's query so marked statements get the bound (and only they). */
function boundUserRegexStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
  client.query = (async (...args: unknown[]) => {
    const text = args[0];
    if (typeof text !== 'string' || !text.includes(USER_REGEX_MARK) || args.length > 2) return query(...args);
    // Session-level SET, undone right after. Inside a transaction a failed statement aborts it and
    // the undo fails too, but the rollback that follows restores the setting all the same.
    await query(`set statement_timeout = ${USER_REGEX_TIMEOUT_MS}`);
    try {
      return await query(...args);
    } finally {
      await query('set statement_timeout to default').catch(() => undefined);
    }
  }) as typeof client.query;
}

/**
 * LISTEN needs a connection of its own for as long as anyone listens; it is opened on first use.
 * A dropped listener (database restart, idle-connection killer) must not silently turn every long
 * poll into a slow poll: it resubscribes with backoff and wakes everyone once back, since
 * notifications sent in between were lost.
 */
class Listener {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private closing = false;
  private retryMs = 500;
  private readonly subscribers = new Map<string, Set<() => void>>();

  constructor(private readonly url: string) {}

  async listen(channel: string, fn: () => void): Promise<() => Promise<void>> {
    let set = this.subscribers.get(channel);
    if (!set) {
      set = new Set();
      this.subscribers.set(channel, set);
      const client = await this.connect();
      await client.query(`listen ${channel}`);
    }
    set.add(fn);
    return async () => {
      set.delete(fn);
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    const client = this.client;
    this.client = undefined;
    this.subscribers.clear();
    if (client) await client.end().catch(() => undefined);
  }

  private wakeAll(): void {
    for (const set of this.subscribers.values()) for (const fn of set) fn();
  }

  private dropped(): void {
    this.client = undefined;
    this.connecting = undefined;
    if (this.closing || this.subscribers.size === 0) return;
    setTimeout(() => void this.resubscribe(), this.retryMs).unref();
    this.retryMs = Math.min(this.retryMs * 2, 30_000);
  }

  private async resubscribe(): Promise<void> {
    if (this.closing) return;
    try {
      const client = await this.connect();
      for (const channel of this.subscribers.keys()) await client.query(`listen ${channel}`);
      this.retryMs = 500;
      this.wakeAll();
    } catch {
      this.dropped();
    }
  }

  private connect(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.url });
      client.on('notification', (n) => {
        for (const fn of this.subscribers.get(n.channel) ?? []) fn();
      });
      let gone = false;
      const onGone = () => {
        if (gone) return;
        gone = true;
        if (this.client === client || !this.client) this.dropped();
      };
      // Never crash the server over the listener: callers also poll while it is away.
      client.on('error', onGone);
      client.on('end', onGone);
      try {
        await client.connect();
      } catch (err) {
        this.connecting = undefined;
        throw err;
      }
      this.client = client;
      return client;
    })();
    return this.connecting;
  }
}

export function openPostgres(url: string): DatabaseHandle {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('connect', boundUserRegexStatements);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const listener = new Listener(url);
  return {
    db,
    dialect: postgresDialect,
    async close() {
      await listener.close();
      await db.destroy();
    },
    async listen(channel, fn) {
      if (!CHANNEL.test(channel)) throw new Error(`invalid channel name ${channel}`);
      return listener.listen(channel, fn);
    },
    async notify(channel) {
      if (!CHANNEL.test(channel)) throw new Error(`invalid channel name ${channel}`);
      await sql`select pg_notify(${channel}, '')`.execute(db);
    },
  };
}
