import type { Kysely, RawBuilder } from 'kysely';
import type { Database } from './schema.js';

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
}

export interface DatabaseHandle {
  db: Kysely<Database>;
  dialect: SqlDialect;
  close(): Promise<void>;
}
