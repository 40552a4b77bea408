import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { registerSessionAuth } from '../auth/sessions.js';
import type { ServerContext } from '../context.js';
import { apiError } from '../errors.js';
import { eventRoutes } from '../routes/events.js';
import { sessionRoutes } from '../routes/sessions.js';

/**
 * The web UI's server side: cookie sessions, the live event stream, and the built UI itself
 * (packages/web/dist, from `npm run build`) at `/`. Kept in one registration so app.ts changes by
 * a line.
 */

/** src/web and dist/web are both three levels below packages/, so one relative path serves both. */
const DEFAULT_WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../web/dist');

/**
 * The page may load only its own scripts and styles: a file name or label that slipped through
 * escaping still cannot pull in or run code. Vite's build emits no inline scripts.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "object-src 'none'",
].join('; ');

export async function registerWeb(app: FastifyInstance, ctx: ServerContext, opts: { webDir?: string } = {}): Promise<void> {
  registerSessionAuth(app, ctx);
  await app.register(
    async (api) => {
      await sessionRoutes(api, ctx);
      await eventRoutes(api, ctx);
    },
    { prefix: '/api' },
  );

  const root = opts.webDir ?? process.env.SPROCKET_WEB_DIR ?? DEFAULT_WEB_DIR;
  if (!fs.existsSync(path.join(root, 'index.html'))) {
    app.log.warn(`web UI not built (${root}/index.html missing): run 'npm run build'`);
    return;
  }
  const assets = path.join(root, 'assets');
  await app.register(fastifyStatic, {
    root: assets,
    prefix: '/assets/',
    // One route for every asset. A route per file (wildcard: false) cost the idle server 8 MB of
    // route tables for the ~300 files a build writes (with their .br, .gz and .map copies).
    wildcard: true,
    cacheControl: false,
    // The build writes .br and .gz copies of each asset (scripts/build.ts): sent to browsers that take them.
    preCompressed: true,
    setHeaders(res) {
      // Vite gives everything under assets/ a content-hashed name: it never changes, so browsers may keep it.
      res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
      // The same URL answers brotli, gzip or plain bytes: a shared cache must keep them apart.
      res.setHeader('Vary', 'Accept-Encoding');
    },
  });
  // The few files Vite copies to the top (index.html, icons), known at start; anything else that is
  // not the API's is a client-side route (/projects/…, /jobs/…) and loads the app shell. /api stays
  // the API's, so an unknown API path keeps answering the JSON 404 scripts expect.
  const topFiles = new Set(
    fs.readdirSync(root, { withFileTypes: true }).flatMap((e) => (e.isFile() && !/\.(br|gz|map)$/.test(e.name) ? [e.name] : [])),
  );
  app.get('/*', { schema: { hide: true } }, async (req, reply) => {
    const p = req.url.split('?')[0] ?? '';
    if (p === '/api' || p.startsWith('/api/') || p.startsWith('/assets/'))
      throw apiError('ROUTE_NOT_FOUND', { method: req.method, path: p });
    const name = p.slice(1);
    const file = topFiles.has(name) ? name : 'index.html';
    void reply.header('Cache-Control', 'no-cache').header('Vary', 'Accept-Encoding');
    if (file.endsWith('.html')) void reply.header('Content-Security-Policy', CSP);
    return reply.sendFile(file, root);
  });
}
