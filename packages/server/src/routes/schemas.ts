import { type Static, type TUnsafe, Type } from '@sinclair/typebox';
import { GROUP_ID, OBJECT_ID } from '@sprocket/types';

/**
 * JSON schemas shared by route modules, written with TypeBox so handlers get their types from them;
 * the OpenAPI document is generated from these. TypeBox emits plain JSON schema, keyword for keyword
 * what was written here before, so validation and its messages are unchanged.
 */
export const OBJECT_ID_SCHEMA = Type.String({ pattern: OBJECT_ID.source });
export const GROUP_ID_SCHEMA = Type.String({ pattern: GROUP_ID.source });
/**
 * Labels, codes and tags are printed by the CLI, put into CSV exports and download folder names: like
 * file names they hold no control characters (C0, DEL and C1: a label carrying an ANSI escape
 * rewrote the terminal of whoever listed it). Checked as a JSON schema format, registered in app.ts.
 */
export const NO_CONTROL_CHARACTERS = 'no-control-characters';
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
/** The string formats these schemas use, for every Ajv that compiles them (fastify's and the upload metadata check). */
export const SCHEMA_FORMATS = { [NO_CONTROL_CHARACTERS]: (v: string) => !CONTROL_CHARACTER.test(v) };
export const LABEL = Type.String({ minLength: 1, maxLength: 256, format: NO_CONTROL_CHARACTERS });
export const TAG = Type.String({ minLength: 1, maxLength: 32, format: NO_CONTROL_CHARACTERS });
/** Any JSON object (`{type: 'object'}`, open): info, config, free-form documents. */
export const JSON_OBJECT = Type.Unsafe<Record<string, unknown>>({ type: 'object' });
export const INFO = JSON_OBJECT;
export const TAGS = Type.Array(TAG);
export const idParams = Type.Object({ id: OBJECT_ID_SCHEMA });
export const groupParams = Type.Object({ id: GROUP_ID_SCHEMA });
/** A body `{value: tag}` (add or rename a tag). */
export const tagBody = Type.Object({ value: TAG }, { additionalProperties: false });

/**
 * A schema written as JSON schema with the type it admits declared beside it, for what TypeBox's
 * builders would spell differently: `type: ['string', 'null']` (a union would become `anyOf`, and
 * change the validation messages) and nullable enums.
 */
export function nullable<T>(schema: Record<string, unknown>): TUnsafe<T | null> {
  return Type.Unsafe<T | null>(schema);
}

export const infoUpdateBody = Type.Object(
  {
    set: Type.Optional(JSON_OBJECT),
    delete: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    replace: Type.Optional(JSON_OBJECT),
  },
  { additionalProperties: false, minProperties: 1 },
);

export type InfoUpdate = Static<typeof infoUpdateBody>;

/** Applies Flywheel's `{set, delete}` or `{replace}` info update; dotted delete keys reach into objects. */
export function applyInfoUpdate(info: Record<string, unknown>, u: InfoUpdate): Record<string, unknown> {
  if (u.replace !== undefined) return u.replace;
  const out: Record<string, unknown> = { ...info, ...(u.set ?? {}) };
  for (const key of u.delete ?? []) {
    if (key in out) {
      delete out[key];
      continue;
    }
    const parts = key.split('.');
    let cur: unknown = out;
    for (let i = 0; i < parts.length - 1 && cur && typeof cur === 'object'; i++) cur = (cur as Record<string, unknown>)[parts[i]!];
    if (cur && typeof cur === 'object') delete (cur as Record<string, unknown>)[parts[parts.length - 1]!];
  }
  return out;
}
