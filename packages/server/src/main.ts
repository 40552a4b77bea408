import path from 'node:path';
import { loadConfig } from './config.js';
import { startServer } from './server.js';

const config = loadConfig();
const server = await startServer(config, { logger: true });
console.log(`Sprocket API listening at ${server.url}`);
console.log(`  data directory: ${config.dataDir} (${config.databaseUrl ? 'metadata in PostgreSQL' : 'SQLite'})`);
if (server.adminKey) {
  console.log(`  first start: site admin key written to ${path.join(config.dataDir, 'admin-api-key')}`);
  console.log(`  admin API key: ${server.adminKey}`);
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
