import { isPlainObject, type JsonObject } from '@sprocket/types';

/** JSON columns are stored as text; these keep parsing in one place and tolerate legacy nulls. */
export function parseJson<T>(text: string | null | undefined, fallback: T): T {
  if (text === null || text === undefined || text === '') return fallback;
  return JSON.parse(text) as T;
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
