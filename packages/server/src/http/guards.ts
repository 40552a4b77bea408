import type { FastifyInstance } from 'fastify';
import { badRequest } from '../errors.js';

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

export function registerInputGuards(app: FastifyInstance): void {
  // preValidation runs after parsing, before the schema: the message then names the field that holds the NUL.
  app.addHook('preValidation', async (req) => {
    // File names in paths are left to the file routes, whose check covers every control character.
    const { name: _fileName, ...params } = (req.params ?? {}) as Record<string, unknown>;
    const hit = nulPath(params, 'params') ?? nulPath(req.query, 'querystring') ?? nulPath(req.body, 'body');
    if (hit) throw badRequest(`${hit}: NUL characters (\\u0000) are not allowed`);
  });
}
