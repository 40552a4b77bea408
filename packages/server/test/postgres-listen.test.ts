import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openPostgres } from '../src/db/postgres.js';
import { freshDatabaseUrl } from './helpers.js';

const pgUrl = process.env.SPROCKET_TEST_DATABASE_URL?.startsWith('postgres');

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!pgUrl)('PostgreSQL wake-ups', () => {
  it('resubscribes when the LISTEN connection is killed, waking listeners once it is back', async () => {
    const url = (await freshDatabaseUrl())!;
    const handle = openPostgres(url);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      let calls = 0;
      await handle.listen!('sprocket_t_wake', () => calls++);
      await handle.notify!('sprocket_t_wake');
      await until(() => calls >= 1, 'the first notification');

      const killed = await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where query like 'listen %' and datname = current_database()`,
      );
      expect(killed.rowCount).toBe(1);
      const before = calls;
      // Back again: the resubscription wakes listeners once (notifications in between were lost) …
      await until(() => calls > before, 'the resubscription wake-up');
      await until(
        async () =>
          (await admin.query(`select 1 from pg_stat_activity where query like 'listen %' and datname = current_database()`)).rowCount === 1,
        'a new LISTEN connection',
      );
      // … and later notifications arrive through the new connection.
      const after = calls;
      await handle.notify!('sprocket_t_wake');
      await until(() => calls > after, 'a notification after the reconnect');
    } finally {
      await admin.end();
      await handle.close();
    }
  });
});
