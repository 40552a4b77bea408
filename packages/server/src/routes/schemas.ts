import { GROUP_ID, OBJECT_ID } from '@sprocket/types';

/** JSON schemas shared by route modules; the OpenAPI document is generated from these. */
export const OBJECT_ID_SCHEMA = { type: 'string', pattern: OBJECT_ID.source } as const;
export const GROUP_ID_SCHEMA = { type: 'string', pattern: GROUP_ID.source } as const;
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
export const LABEL = { type: 'string', minLength: 1, maxLength: 256, format: NO_CONTROL_CHARACTERS } as const;
export const TAG = { type: 'string', minLength: 1, maxLength: 32, format: NO_CONTROL_CHARACTERS } as const;
export const INFO = { type: 'object' } as const;
export const idParams = { type: 'object', properties: { id: OBJECT_ID_SCHEMA }, required: ['id'] } as const;
export const groupParams = { type: 'object', properties: { id: GROUP_ID_SCHEMA }, required: ['id'] } as const;

export const infoUpdateBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    set: { type: 'object' },
    delete: { type: 'array', items: { type: 'string', minLength: 1 } },
    replace: { type: 'object' },
  },
} as const;

export interface InfoUpdate {
  set?: Record<string, unknown>;
  delete?: string[];
  replace?: Record<string, unknown>;
}

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
