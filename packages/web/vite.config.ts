import { defaultClientConditions, defineConfig } from 'vite';

/**
 * The UI build. JSX goes through Vite's own esbuild (automatic runtime), so no React plugin is
 * needed for the production build. `npm run dev:web` proxies /api to a running server
 * (SPROCKET_URL, default http://127.0.0.1:8080) so cookies stay same-origin as in production.
 */
const target = process.env.SPROCKET_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  esbuild: { jsx: 'automatic' },
  // The workspace packages (@sprocket/sdk/browser, @sprocket/types) are bundled from their sources,
  // as tests and tsc read them: the UI never waits on, or ships, a stale dist.
  resolve: { conditions: ['@sprocket/source', ...defaultClientConditions] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
    chunkSizeWarningLimit: 500,
    rollupOptions: {
      onwarn(warning, warn) {
        // TanStack Query marks its modules "use client" for React Server Components; a browser bundle has none.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE' || warning.code === 'SOURCEMAP_ERROR') return;
        warn(warning);
      },
    },
  },
  server: { proxy: { '/api': { target, changeOrigin: false } } },
});
