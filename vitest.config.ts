import { defineConfig } from 'vitest/config';

// Tests run the TypeScript sources, never a stale dist/: the workspace packages export them under the
// `@sprocket/source` condition (see scripts/build.ts). Vite resolves with it here; the processes tests
// spawn (`node --import tsx …`) inherit it through NODE_OPTIONS.
const SOURCE_CONDITION = '--conditions=@sprocket/source';
if (!process.env.NODE_OPTIONS?.includes(SOURCE_CONDITION))
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} ${SOURCE_CONDITION}`.trim();

// These suites never touch the metadata database: CI runs them in the SQLite pass only, so the
// PostgreSQL pass (SPROCKET_TEST_DATABASE_URL set) spends its time on what differs between databases.
const DATABASE_INDEPENDENT = [
  'gears/*/test/**/*.test.ts',
  'packages/engine/test/executors.test.ts',
  'packages/engine/test/podman.test.ts',
  'packages/engine/test/units.test.ts',
  'packages/engine/test/slurm-units.test.ts',
  'packages/sdk/test/key.test.ts',
  'packages/types/test/errors.test.ts',
  'packages/cli/test/help.test.ts',
];

// No `module` condition: packages that list it first (the AWS SDK's dist-es) would load builds that import
// without file extensions, which Node's ESM loader refuses; `node` picks the builds Node itself runs.
export default defineConfig({
  resolve: { conditions: ['@sprocket/source', 'node', 'development|production'] },
  ssr: {
    resolve: { conditions: ['@sprocket/source', 'node', 'development|production'], externalConditions: ['@sprocket/source'] },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'gears/*/test/**/*.test.ts', 'e2e/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...(process.env.SPROCKET_TEST_DATABASE_URL ? DATABASE_INDEPENDENT : [])],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
