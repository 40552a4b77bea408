import * as gear from '@sprocket/types';
import { type FileInputSpec, type GearFile, type GearManifest, InvocationError } from '@sprocket/types';
import { type JsonObject, parseJson } from '../dao/json.js';
import type { FilesTable } from '../db/schema.js';
import { badRequest } from '../errors.js';

/**
 * The gear spec's invocation rules (`@sprocket/types`, shared with the CLI's local runs) applied to
 * stored file rows: a row's JSON columns are parsed into the file object the spec tests, and a
 * config that does not fit the manifest is the client's error (400).
 */

/** The file fields a file input's directives are tested against (gear spec §1.3). */
export function fileObject(f: FilesTable): GearFile {
  return {
    name: f.name,
    type: f.type,
    mimetype: f.mimetype,
    modality: f.modality,
    size: f.size,
    classification: parseJson<JsonObject>(f.classification, {}),
    tags: parseJson<string[]>(f.tags, []),
    info: parseJson<JsonObject>(f.info, {}),
  };
}

/** {@link gear.resolveConfig}, its refusals as 400 BAD_REQUEST. */
export function resolveConfig(m: GearManifest, given: JsonObject | undefined): JsonObject {
  try {
    return gear.resolveConfig(m, given);
  } catch (e) {
    if (e instanceof InvocationError) throw badRequest(e.message);
    throw e;
  }
}

/** Why `f` does not fit file input `name`, or undefined when it does. */
export const fileMismatch = (spec: FileInputSpec, f: FilesTable): string | undefined => gear.fileMismatch(spec, fileObject(f));

export const fileFits = (spec: FileInputSpec, f: FilesTable): boolean => gear.fileFits(spec, fileObject(f));

/** Each file input's verdict on one file: what `suggest` and batch matching use. */
export const suggestions = (m: GearManifest, f: FilesTable): Record<string, boolean> => gear.suggestions(m, fileObject(f));

/** The config.json entry of a file input. */
export const fileInputEntry = (input: string, holder: { type: string; id: string }, f: FilesTable): JsonObject =>
  gear.fileInputEntry(input, holder, fileObject(f));
