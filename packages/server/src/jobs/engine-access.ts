import type { FastifyRequest } from 'fastify';
import { forbidden } from '../errors.js';

/**
 * What an engine key may call: the engine routes (marked `config: {engine: true}`) and the reads a
 * job needs: its gear's archive and document, its config.json and document, and input files.
 */
const READABLE = new Set([
  'GET /api/gears/:id',
  'GET /api/gears/:id/archive',
  'GET /api/jobs/:id',
  'GET /api/jobs/:id/config.json',
  'GET /api/version',
  ...['projects', 'subjects', 'sessions', 'acquisitions', 'analyses'].flatMap((p) => [`GET /api/${p}/:id/files/:name`, `HEAD /api/${p}/:id/files/:name`]),
]);

export function assertEngineMayCall(req: FastifyRequest): void {
  const config = req.routeOptions.config as { engine?: boolean } | undefined;
  if (config?.engine) return;
  if (READABLE.has(`${req.method} ${req.routeOptions.url}`)) return;
  throw forbidden('engine keys may only call the engine routes and read what their jobs need');
}
