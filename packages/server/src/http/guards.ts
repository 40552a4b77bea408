import type { FastifyInstance } from 'fastify';
import { ApiError, badRequest } from '../errors.js';

/**
 * How deeply arrays and objects may nest in JSON a client sends (bodies, the upload `metadata`
 * field). Nothing in the Flywheel model comes close; past it every recursive walk over the value
 * (validation, the checks below, storage) risks a stack overflow, which answered 10,000 levels in
 * 50 kB with a 500.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether arrays and objects in JSON text nest deeper than `limit`, counted on the text before
 * parsing, so a deep document is refused without building it. Malformed text may miscount; the
 * parser then refuses it anyway.
 */
export function jsonTooDeep(text: string, limit = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

export const tooDeepMessage = (where: string) => `${where}: JSON nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`;

/**
 * PostgreSQL text and jsonb cannot hold U+0000: a NUL in a label, id, filter or info value would
 * fail there as a server error, or (stored escaped inside JSON text) break every later JSON query
 * on the table. Nothing in the API needs one, so requests carrying it are refused up front, naming
 * where it was. Walks with its own stack, so it reaches every depth without recursing.
 */
export function nulPath(value: unknown, where: string): string | undefined {
  const todo: [unknown, string][] = [[value, where]];
  while (todo.length) {
    const [v, at] = todo.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return at;
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    const next: [unknown, string][] = [];
    if (Array.isArray(v)) for (let i = 0; i < v.length; i++) next.push([v[i], `${at}[${i}]`]);
    else {
      for (const [k, x] of Object.entries(v)) {
        if (k.includes('\u0000')) return `${at}.${k.replaceAll('\u0000', '\\u0000')}`;
        next.push([x, `${at}.${k}`]);
      }
    }
    // Reversed onto the stack so the first offending member, in document order, is the one named.
    for (let i = next.length - 1; i >= 0; i--) todo.push(next[i]!);
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
export function coercedPath(
  before: unknown,
  after: unknown,
  where: string,
  depth = 0,
): { where: string; want: string; got: string } | undefined {
  // Bodies nest at most MAX_JSON_DEPTH levels (checked at parse time), so this stops at none.
  if (depth > MAX_JSON_DEPTH) return undefined;
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

type JsonSchemaLike = { type?: unknown; properties?: Record<string, JsonSchemaLike>; anyOf?: JsonSchemaLike[]; oneOf?: JsonSchemaLike[] };

/** Whether a schema admits `kind` (`type: 'x'`, `type: ['x', …]`, or any branch of anyOf / oneOf). */
function admits(schema: JsonSchemaLike | undefined, kind: string): boolean {
  if (!schema) return false;
  const t = schema.type;
  if (t === kind || (Array.isArray(t) && t.includes(kind))) return true;
  return [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])].some((s) => admits(s, kind));
}

/**
 * Python spells booleans `True` / `False`, and Flywheel's SDK (through `requests`) puts them in query
 * strings that way: `GET /gears?all_versions=True`. The validator coerces only `true` / `false`, so
 * for query parameters whose schema is boolean the Python spellings are turned into those first
 * (and `1` / `0`, which shell scripts and curl users write, the same way as queryFlag reads them).
 */
export function pythonBooleansToJson(query: Record<string, unknown>, schema: JsonSchemaLike | undefined): void {
  const props = schema?.properties;
  if (!props) return;
  const fix = (v: unknown) => (v === 'True' || v === '1' ? 'true' : v === 'False' || v === '0' ? 'false' : v);
  for (const [key, value] of Object.entries(query)) {
    if (!admits(props[key], 'boolean')) continue;
    query[key] = Array.isArray(value) ? value.map(fix) : fix(value);
  }
}

/** A query flag read by hand (routes without a schema for it): `true`, `True`, `1` and a bare `?flag` are on. */
export function queryFlag(value: unknown): boolean {
  const v = Array.isArray(value) ? value[value.length - 1] : value;
  return v === true || v === '' || v === '1' || (typeof v === 'string' && v.toLowerCase() === 'true');
}

/**
 * Where a query or path value was coerced to ±Infinity. The validator turns `limit=1e400` into
 * Infinity and then skips its minimum and maximum, which only look at finite numbers, so the value
 * reached LIMIT and OFFSET (a database error, a 500). Query and path objects are flat: values, or
 * arrays of them for repeated parameters.
 */
export function nonFinitePath(values: unknown, where: string): string | undefined {
  if (values === null || typeof values !== 'object') return undefined;
  for (const [k, v] of Object.entries(values)) {
    for (const x of Array.isArray(v) ? v : [v]) if (typeof x === 'number' && !Number.isFinite(x)) return `${where}.${k}`;
  }
  return undefined;
}

export function registerInputGuards(app: FastifyInstance): void {
  // preValidation runs after parsing, before the schema: the message then names the field that holds the NUL.
  app.addHook('preValidation', async (req) => {
    const schema = req.routeOptions.schema as { body?: JsonSchemaLike; querystring?: JsonSchemaLike } | undefined;
    if (req.query && typeof req.query === 'object') pythonBooleansToJson(req.query as Record<string, unknown>, schema?.querystring);
    // A POST or PUT without a body (`Content-Length: 0`, typed JSON or not: what `requests` sends for
    // `POST /users/{id}/key`) is an empty object to a route whose body is an object, so only the
    // fields it requires are reported missing, not the body as a whole.
    if (req.body === undefined && schema?.body && (schema.body.type === undefined || admits(schema.body, 'object'))) req.body = {};
    // File names in paths are left to the file routes, whose check covers every control character.
    const { name: _fileName, ...params } = (req.params ?? {}) as Record<string, unknown>;
    const hit = nulPath(params, 'params') ?? nulPath(req.query, 'querystring') ?? nulPath(req.body, 'body');
    if (hit) throw badRequest(`${hit}: NUL characters (\\u0000) are not allowed`);
    if (req.body !== null && typeof req.body === 'object' && req.routeOptions.schema?.body) req.bodyAsSent = structuredClone(req.body);
  });
  app.addHook('preHandler', async (req) => {
    const infinite = nonFinitePath(req.query, 'querystring') ?? nonFinitePath(req.params, 'params');
    if (infinite) throw new ApiError('VALIDATION', `${infinite}: must be a finite number`);
    if (req.bodyAsSent === undefined) return;
    const hit = coercedPath(req.bodyAsSent, req.body, 'body');
    req.bodyAsSent = undefined;
    if (hit)
      throw new ApiError(
        'VALIDATION',
        `${hit.where}: must be ${hit.want === 'array' ? 'an array' : `a ${hit.want}`}, not ${hit.got === 'array' ? 'an array' : `a ${hit.got}`}`,
      );
  });
}
