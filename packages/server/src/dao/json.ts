import { isPlainObject, type JsonObject } from '@sprocket/types';

/** JSON columns are stored as text; these keep parsing in one place and tolerate legacy nulls. */
export function parseJson<T>(text: string | null | undefined, fallback: T): T {
  if (text === null || text === undefined || text === '') return fallback;
  return JSON.parse(text) as T;
}

/**
 * Whether a JSON object column holds any key (Flywheel's `info_exists`), without parsing it: what
 * is written there is JSON.stringify of an object, which is exactly `{}` when empty. Listings call
 * this per container and per file, where parsing each `info` only to count its keys was ~15 % of a
 * 250-acquisition page's CPU.
 */
export function jsonHasKeys(text: string | null | undefined): boolean {
  if (text === null || text === undefined || text === '' || text === '{}') return false;
  // Anything written by other means (whitespace, `null`) is parsed, as before.
  if (text.charCodeAt(1) !== 0x22) return Object.keys(parseJson<object>(text, {}) ?? {}).length > 0;
  return true;
}

// Defined with the gear spec, whose manifests and config.json are made of them; re-exported so the
// data layer keeps one import for its JSON helpers.
export { isPlainObject, type JsonObject } from '@sprocket/types';

/** Fills `target` with `patch` only where target's value is absent or null, recursing into objects. */
export function fillMissing(target: JsonObject, patch: JsonObject): JsonObject {
  const out: JsonObject = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    const cur = out[k];
    if (cur === undefined || cur === null) out[k] = v;
    else if (isPlainObject(cur) && isPlainObject(v)) out[k] = fillMissing(cur, v);
  }
  return out;
}
