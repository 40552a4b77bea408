import { Type } from '@sinclair/typebox';
import type { JsonObject } from '../dao/json.js';
import { badRequest } from '../errors.js';

/**
 * `?fields=label,subject,files.modality`: which keys of each listed container to send. Not a
 * Flywheel parameter (its clients never send it, and without it a listing is unchanged): the web
 * UI's tables ask for the few keys they show, so a project of 5,000 sessions is a fraction of the
 * full documents' bytes and the server skips the file rows when no `files` key is asked for.
 * `_id` always comes; `files` sends whole file entries, `files.<key>` only those keys of each.
 */
export const FIELDS_QUERY = {
  fields: Type.Optional(Type.String({ maxLength: 2000 })),
};

export interface Projection {
  keys: Set<string>;
  /** Absent: no files at all; 'all': whole entries; else the keys of each entry. */
  files?: 'all' | Set<string>;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_FIELDS = 50;

export function parseProjection(raw: string | undefined): Projection | undefined {
  if (raw === undefined) return undefined;
  const names = raw
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  if (!names.length) throw badRequest('querystring.fields: name at least one field, e.g. fields=label,timestamp');
  if (names.length > MAX_FIELDS) throw badRequest(`querystring.fields: ${names.length} fields named, at most ${MAX_FIELDS}`);
  const p: Projection = { keys: new Set(['_id']) };
  for (const name of names) {
    const [top, sub, ...rest] = name.split('.');
    if (!NAME.test(top!) || rest.length || (sub !== undefined && (top !== 'files' || !NAME.test(sub)))) {
      throw badRequest(`querystring.fields: '${name}' is not a field name (a key, or files.<key> for a key of each file)`);
    }
    if (top === 'files') {
      if (sub === undefined) p.files = 'all';
      else if (p.files !== 'all') {
        p.files ??= new Set();
        p.files.add(sub);
      }
    } else p.keys.add(top!);
  }
  return p;
}

/** Whether a listing's documents need the key at all (so the rows behind it need not be read). */
export const wants = (p: Projection | undefined, key: string): boolean => !p || (key === 'files' ? !!p.files : p.keys.has(key));

export function project(doc: JsonObject, p: Projection | undefined): JsonObject {
  if (!p) return doc;
  const out: JsonObject = {};
  for (const k of p.keys) if (k in doc) out[k] = doc[k];
  if (p.files) {
    const files = (doc.files as JsonObject[] | undefined) ?? [];
    const sub = p.files;
    out.files = sub === 'all' ? files : files.map((f) => Object.fromEntries([...sub].filter((k) => k in f).map((k) => [k, f[k]])));
  }
  return out;
}
