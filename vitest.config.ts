import { defineConfig } from 'vitest/config';

// These suites never touch the metadata database: CI runs them in the SQLite pass only, so the
// PostgreSQL pass (SPROCKET_TEST_DATABASE_URL set) spends its time on what differs between databases.
const DATABASE_INDEPENDENT = [
  'gears/*/test/**/*.test.ts',
  'packages/engine/test/executors.test.ts',
  'packages/engine/test/podman.test.ts',
  'packages/engine/test/units.test.ts',
  'packages/sdk/test/key.test.ts',
  'packages/types/test/errors.test.ts',
  'packages/cli/test/help.test.ts',
];

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'gears/*/test/**/*.test.ts', 'e2e/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...(process.env.SPROCKET_TEST_DATABASE_URL ? DATABASE_INDEPENDENT : [])],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
