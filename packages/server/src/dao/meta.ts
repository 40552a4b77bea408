import { type JsonObject, parseJson } from './json.js';

/** A note on a container or collection, as stored and as the API answers it. */
export interface Note {
  _id: string;
  text: string;
  user: string;
  created: string;
  modified: string;
}

/** What containers and collections keep beside their fields: info, tags and notes. */
export interface Meta {
  info: JsonObject;
  tags: string[];
  notes: Note[];
}

/** The columns holding them, as JSON text. */
export interface MetaColumns {
  info: string;
  tags: string;
  notes: string;
}

/** A row's info, tags and notes as documents (files have no notes: an empty list). */
export function metaOf(row: Pick<MetaColumns, 'info' | 'tags'> & Partial<Pick<MetaColumns, 'notes'>>): Meta {
  return { info: parseJson<JsonObject>(row.info, {}), tags: parseJson<string[]>(row.tags, []), notes: parseJson<Note[]>(row.notes, []) };
}

/** A file's classification (`{Intent: [...], Measurement: [...]}`) as a document. */
export function classificationOf(row: { classification: string }): Record<string, string[]> {
  return parseJson<Record<string, string[]>>(row.classification, {});
}

/** The JSON-text columns to write for the documents given; what is undefined is left as it is. */
export function jsonColumns<T extends Record<string, unknown>>(patch: T): { [K in keyof T]?: string } {
  const out: { [K in keyof T]?: string } = {};
  for (const [k, v] of Object.entries(patch)) if (v !== undefined) out[k as keyof T] = JSON.stringify(v);
  return out;
}

/** The columns to write for the parts of info, tags and notes given. */
export const metaColumns = (patch: Partial<Meta>): Partial<MetaColumns> => jsonColumns(patch);
