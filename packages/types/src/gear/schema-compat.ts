import { isPlainObject, type JsonObject } from './json.js';

/**
 * Gear manifests write config and input directives in draft-04, where `exclusiveMaximum: true`
 * modifies `maximum` and `id` names the schema. Ajv implements a later draft, so each snippet is
 * rewritten to mean the same there. Annotation-only keys the spec adds (`optional`, `description`)
 * are dropped; keywords Ajv does not know are ignored (gears park CLI flags in `id`).
 */
export function toModernSchema(snippet: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(snippet)) {
    if (k === 'optional' || k === 'description' || k === 'id' || k === '$schema' || k === 'default') continue;
    if (k === 'items' && isPlainObject(v)) out.items = toModernSchema(v);
    else if (k === 'items' && Array.isArray(v)) out.items = v.map((i) => (isPlainObject(i) ? toModernSchema(i) : i));
    else if (k === 'properties' && isPlainObject(v))
      out.properties = Object.fromEntries(Object.entries(v).map(([pk, pv]) => [pk, isPlainObject(pv) ? toModernSchema(pv) : pv]));
    else out[k] = v;
  }
  for (const [flag, bound] of [
    ['exclusiveMaximum', 'maximum'],
    ['exclusiveMinimum', 'minimum'],
  ] as const) {
    if (typeof out[flag] !== 'boolean') continue;
    if (out[flag] === true && typeof out[bound] === 'number') {
      out[flag] = out[bound];
      delete out[bound];
    } else delete out[flag];
  }
  return out;
}
