import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { SignInThrottle } from './auth/sign-in-throttle.js';
import { ensurePrivateDir, type ServerConfig } from './config.js';
import type { ServerContext } from './context.js';
import { bootstrapAdmin } from './dao/users.js';
import { connectDatabase } from './db/connect.js';
import { installDicomImport } from './dicom/importer.js';
import { ServerEvents } from './events.js';
import { createFileStore } from './files/store.js';
import { GearCache } from './jobs/gears.js';
import { ensureLocalEngineKey } from './jobs/keys.js';
import { JobNotifier } from './jobs/notifier.js';
import { startOrphanSweeper } from './jobs/queue.js';

export interface RunningServer {
  app: FastifyInstance;
  ctx: ServerContext;
  /** Base URL of the API, ending in /api. */
  url: string;
  /** Set on first start only: the bootstrap site admin's key. */
  adminKey?: string;
  /** Set when `<data dir>/engine-api-key` was written by this start: the local engine's key. */
  engineKey?: string;
  close(): Promise<void>;
}

/**
 * Opens storage, recovers from any interrupted write, builds the API and listens. The same
 * function serves `npm start` and the end-to-end tests.
 */
export async function startServer(config: ServerConfig, opts: { logger?: boolean } = {}): Promise<RunningServer> {
  ensurePrivateDir(config.dataDir);
  // The store first: a bucket that cannot be reached fails the start before a database is opened.
  const store = await createFileStore(config);
  const handle = await connectDatabase(config);
  await store.recover(async (keys) => {
    const rows = await handle.db.selectFrom('files').select('id').where('id', 'in', keys).execute();
    const gears = await handle.db.selectFrom('gears').select('archive_key').where('archive_key', 'in', keys).execute();
    const images = await handle.db.selectFrom('gear_images').select('archive_key').where('archive_key', 'in', keys).execute();
    return new Set([...rows.map((r) => r.id), ...gears.map((g) => g.archive_key!), ...images.map((i) => i.archive_key)]);
  });
  const ctx: ServerContext = {
    handle,
    store,
    config,
    hooks: { pathPrefixes: new Map() },
    events: new ServerEvents(),
    gears: new GearCache(handle.db),
    notifier: new JobNotifier(handle),
    signIns: new SignInThrottle(),
  };
  const app = await buildApp(ctx, opts);
  const dicom = installDicomImport(ctx, { log: (msg) => app.log.warn(msg) });
  const address = await app.listen({ port: config.port, host: config.host });
  const port = new URL(address).port;
  // With port 0 the real port is known only now; keys and /config must name it.
  if (config.port === 0) config.publicUrl = config.publicUrl.replace(/:0\/api$/, `:${port}/api`);
  const adminKey = await bootstrapAdmin(handle.db, config.publicUrl);
  if (adminKey) {
    const file = path.join(config.dataDir, 'admin-api-key');
    fs.writeFileSync(file, `${adminKey}\n`, { mode: 0o600 });
    fs.chmodSync(file, 0o600);
  }
  const engineKey = await ensureLocalEngineKey(ctx);
  const stopSweeper = startOrphanSweeper(ctx);
  return {
    app,
    ctx,
    url: config.publicUrl,
    adminKey,
    engineKey,
    async close() {
      await stopSweeper();
      await app.close();
      await dicom.close();
      await handle.close();
    },
  };
}
