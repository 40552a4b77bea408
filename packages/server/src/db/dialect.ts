import type { Expression, Kysely, RawBuilder, SqlBool } from 'kysely';
import type { Database, JobsTable } from './schema.js';

/**
 * PostgreSQL's regex engine backtracks too: a user's pattern could hold a database connection (and
 * so one of the pool's few) for as long as it likes. Statements that carry one (marked by
 * regexMatch) run under this statement_timeout; when it fires PostgreSQL cancels the statement with
 * SQLSTATE 57014, which the listing code reports as a 400 naming the filter. Other statements keep
 * the server's default: a lock wait or a large import may rightly take longer. Declared here, not in
 * postgres.ts, so the listing code reads it without loading the PostgreSQL driver.
 */
export const USER_REGEX_TIMEOUT_MS = 5000;

/**
 * The few places where SQLite and PostgreSQL need different SQL. Nothing outside db/ asks which
 * database it talks to: it calls these.
 */
export interface SqlDialect {
  readonly name: 'sqlite' | 'postgres';
  /** The JSON value at `path` inside a JSON-text column, as text (null when absent or not scalar). */
  jsonText(column: string, path: readonly string[]): RawBuilder<string | null>;
  /** The JSON value at `path` as a number, null unless it is a JSON number. */
  jsonNumber(column: string, path: readonly string[]): RawBuilder<number | null>;
  /** True where the JSON array in `column` holds the string `value`. */
  jsonArrayContains(column: string, value: string): RawBuilder<boolean>;
  /** True where `expr` matches the regular expression `pattern` (case-sensitive). */
  regexMatch(expr: RawBuilder<unknown> | string, pattern: string): RawBuilder<boolean>;
  /** True where every member of the JSON array of strings in `column` is one of `values`. */
  jsonArrayWithin(column: string, values: readonly string[]): RawBuilder<boolean>;
  /**
   * Moves up to `limit` pending jobs matching `where` to running in one atomic statement, highest
   * priority then oldest first, and returns them. However many callers race, on however many
   * server processes, a job is returned to exactly one of them.
   */
  claimJobs(db: Kysely<Database>, claim: JobClaim): Promise<JobsTable[]>;
}

export interface JobClaim {
  where: Expression<SqlBool>;
  limit: number;
  deviceId: string;
  claimedBy: string;
  stamp: string;
}

export interface DatabaseHandle {
  db: Kysely<Database>;
  dialect: SqlDialect;
  close(): Promise<void>;
  /**
   * Cross-process wake-ups (PostgreSQL LISTEN/NOTIFY). Absent where the database has no such thing;
   * callers then rely on their in-process notifier plus a slow poll.
   */
  listen?(channel: string, fn: () => void): Promise<() => Promise<void>>;
  notify?(channel: string): Promise<void>;
}
