import type { FastifyInstance } from 'fastify';
import { ApiError, badRequest } from '../errors.js';

/**
 * PostgreSQL text and jsonb cannot hold U+0000: a NUL in a label, id, filter or info value would
 * fail there as a server error, or (stored escaped inside JSON text) break every later JSON query
 * on the table. Nothing in the API needs one, so requests carrying it are refused up front, naming
 * where it was.
 */
export function nulPath(value: unknown, where: string, depth = 0): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? where : undefined;
  if (value === null || typeof value !== 'object' || depth > 64) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const hit = nulPath(value[i], `${where}[${i}]`, depth + 1);
      if (hit) return hit;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(value)) {
    if (k.includes('\u0000')) return `${where}.${k.replaceAll('\u0000', '\\u0000')}`;
    const hit = nulPath(v, `${where}.${k}`, depth + 1);
    if (hit) return hit;
  }
  return undefined;
}

function jsonType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? 'number' : typeof v;
}

/**
 * Where schema validation changed the JSON type of a body value. The validator coerces types so
 * query strings (`limit=5`) and bodies share one set of schemas, but a body sending `"label": 5` or
 * `"tags": "x"` has the wrong type and must be told so, not silently converted.
 */
export function coercedPath(before: unknown, after: unknown, where: string, depth = 0): { where: string; want: string; got: string } | undefined {
  if (depth > 64) return undefined;
  const want = jsonType(after);
  const got = jsonType(before);
  if (want !== got) return { where, want, got };
  if (want === 'array') {
    const a = after as unknown[];
    const b = before as unknown[];
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const hit = coercedPath(b[i], a[i], `${where}[${i}]`, depth + 1);
      if (hit) return hit;
    }
  } else if (want === 'object') {
    const b = before as Record<string, unknown>;
    for (const [k, v] of Object.entries(after as Record<string, unknown>)) {
      // Keys the client left out may have been filled with schema defaults; those are not coercions.
      if (!Object.hasOwn(b, k)) continue;
      const hit = coercedPath(b[k], v, `${where}.${k}`, depth + 1);
      if (hit) return hit;
    }
  }
  return undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    bodyAsSent?: unknown;
  }
}

export function registerInputGuards(app: FastifyInstance): void {
  // preValidation runs after parsing, before the schema: the message then names the field that holds the NUL.
  app.addHook('preValidation', async (req) => {
    // File names in paths are left to the file routes, whose check covers every control character.
    const { name: _fileName, ...params } = (req.params ?? {}) as Record<string, unknown>;
    const hit = nulPath(params, 'params') ?? nulPath(req.query, 'querystring') ?? nulPath(req.body, 'body');
    if (hit) throw badRequest(`${hit}: NUL characters (\\u0000) are not allowed`);
    if (req.body !== null && typeof req.body === 'object' && req.routeOptions.schema?.body) req.bodyAsSent = structuredClone(req.body);
  });
  app.addHook('preHandler', async (req) => {
    if (req.bodyAsSent === undefined) return;
    const hit = coercedPath(req.bodyAsSent, req.body, 'body');
    req.bodyAsSent = undefined;
    if (hit) throw new ApiError('VALIDATION', `${hit.where}: must be ${hit.want === 'array' ? 'an array' : `a ${hit.want}`}, not ${hit.got === 'array' ? 'an array' : `a ${hit.got}`}`);
  });
}
