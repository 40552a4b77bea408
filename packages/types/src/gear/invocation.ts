import { isPlainObject, type JsonObject } from './json.js';
import { inputPath } from './layout.js';
import {
  type ConfigSpec,
  compileFileInput,
  compileSnippet,
  describeErrors,
  FILE_INPUT_RESERVED,
  type FileInputSpec,
  type GearManifest,
  jsonPath,
} from './manifest.js';

/**
 * How a gear is invoked: its config filled and checked, its inputs matched against the manifest,
 * the `config.json` it is handed (gear spec §1.8) and the environment it runs with (§1.11).
 */

/** A config or input that does not fit the manifest; the server answers it with 400 BAD_REQUEST. */
export class InvocationError extends Error {
  override readonly name = 'InvocationError';
}

/**
 * The file fields a file input's directives are tested against (gear spec §1.3), JSON columns
 * already parsed: the server builds it from a file row, `sprocket gear local` from a local file.
 */
export interface GearFile {
  name: string;
  type: string | null;
  mimetype: string;
  modality: string | null;
  size: number;
  classification: JsonObject;
  tags: string[];
  info: JsonObject;
}

const keyPath = (base: string, key: string) => jsonPath(base, `/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`);

/**
 * Fills missing config keys from their defaults and validates every value against its snippet.
 * `null` counts as missing: Flywheel's SDK sends null for keys that have no default.
 */
export function resolveConfig(m: GearManifest, given: JsonObject | undefined): JsonObject {
  const out: JsonObject = {};
  const specs = m.config ?? {};
  for (const key of Object.keys(given ?? {})) {
    if (!(key in specs)) {
      const known = Object.keys(specs);
      throw new InvocationError(
        `${keyPath('config', key)}: not a config option of gear ${m.name} (${known.length ? `known: ${known.join(', ')}` : 'it takes none'})`,
      );
    }
  }
  for (const [key, spec] of Object.entries(specs)) {
    const raw = given?.[key];
    let value: unknown;
    let fromDefault = false;
    if (raw !== undefined && raw !== null) value = raw;
    else if ('default' in spec) {
      value = spec.default;
      fromDefault = true;
    } else if (spec.optional === true) continue;
    else throw new InvocationError(`${keyPath('config', key)}: is required (the manifest gives no default and does not mark it optional)`);
    const check = compileSnippet(spec as ConfigSpec);
    if (!check(value)) {
      const why = describeErrors(keyPath('config', key), check.errors, 2).join('; ');
      throw new InvocationError(
        `config did not match manifest: ${why}${fromDefault ? ` (the manifest's default ${JSON.stringify(value)} is invalid)` : ''}`,
      );
    }
    out[key] = value;
  }
  return out;
}

/** Why `f` does not fit file input `name`, or undefined when it does. */
export function fileMismatch(spec: FileInputSpec, f: GearFile): string | undefined {
  const check = compileFileInput(spec);
  if (check(f)) return undefined;
  return describeErrors('file', check.errors, 2)
    .map((e) => e.replace(/^file\./, ''))
    .join('; ');
}

export function fileFits(spec: FileInputSpec, f: GearFile): boolean {
  return compileFileInput(spec)(f) === true;
}

/** Each file input's verdict on one file: what `suggest` and batch matching use. */
export function suggestions(m: GearManifest, f: GearFile): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const [key, spec] of Object.entries(m.inputs ?? {})) if (spec.base === 'file') out[key] = fileFits(spec as FileInputSpec, f);
  return out;
}

/** The whitelisted projection of a file handed to the gear as `inputs.<name>.object` (§1.8). */
export function inputObject(f: GearFile): JsonObject {
  const classification = f.classification;
  // Gears written before classification read `measurements`; Flywheel derives it from the values.
  const measurements = [...new Set(Object.values(classification).flatMap((v) => (Array.isArray(v) ? v.map(String) : [])))];
  return {
    info: f.info,
    tags: f.tags,
    measurements,
    classification,
    mimetype: f.mimetype,
    type: f.type,
    modality: f.modality,
    size: f.size,
  };
}

/** The config.json entry of a file input. */
export function fileInputEntry(input: string, holder: { type: string; id: string }, f: GearFile): JsonObject {
  return {
    base: 'file',
    hierarchy: { type: holder.type, id: holder.id },
    location: { name: f.name, path: inputPath(input, f.name) },
    object: inputObject(f),
  };
}

/** The config.json entry of a context input: `value` is undefined when nothing up the hierarchy sets it. */
export function contextInputEntry(value: unknown): JsonObject {
  return value === undefined ? { base: 'context', found: false } : { base: 'context', found: true, value };
}

/** The config.json entry of an api-key input, with the key minted for the job. */
export function apiKeyInputEntry(key: string): JsonObject {
  return { base: 'api-key', key };
}

export const FIXED_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `FW_CONFIG_<NAME>` for every config value (name upper-cased, odd characters dropped, spaces → `_`). */
export function fwConfigEnv(config: JsonObject): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    if (value === null || value === undefined || isPlainObject(value)) continue;
    const name = `FW_CONFIG_${key
      .replace(/[^A-Za-z0-9 _]/g, '')
      .replace(/ /g, '_')
      .toUpperCase()}`;
    env[name] = Array.isArray(value) ? JSON.stringify(value) : typeof value === 'boolean' ? (value ? 'true' : 'false') : String(value);
  }
  return env;
}

/** The run environment: the spec's fixed PATH, the manifest's `environment` over it, then FW_CONFIG_*. */
export function runEnvironment(m: GearManifest, config: JsonObject): Record<string, string> {
  return { PATH: FIXED_PATH, ...(m.environment ?? {}), ...fwConfigEnv(config) };
}

/**
 * The invocation schema of a gear (§1.7): one draft-04 schema that a whole invocation (config and
 * inputs) validates against, and from which each file input's candidate test is isolated.
 */
export function invocationSchema(m: GearManifest): JsonObject {
  const configProps: JsonObject = {};
  const configRequired: string[] = [];
  for (const [key, spec] of Object.entries(m.config ?? {})) {
    const { description: _d, optional, ...rest } = spec;
    configProps[key] = rest;
    if (optional !== true) configRequired.push(key);
  }
  const inputProps: JsonObject = {};
  const inputRequired: string[] = [];
  for (const [key, spec] of Object.entries(m.inputs ?? {})) {
    if (spec.base === 'file') {
      const props: JsonObject = {};
      for (const [k, d] of Object.entries(spec)) if (!FILE_INPUT_RESERVED.has(k)) props[k] = d;
      inputProps[key] = { type: 'object', properties: props };
    } else if (spec.base === 'api-key') inputProps[key] = { type: 'object' };
    else {
      inputProps[key] = {
        type: 'object',
        required: ['base', 'found', 'value'],
        properties: { base: { type: 'string' }, found: { type: 'boolean' }, value: {} },
      };
    }
    if (spec.optional !== true) inputRequired.push(key);
  }
  const section = (properties: JsonObject, required: string[]) => ({
    type: 'object',
    properties,
    ...(required.length ? { required } : {}),
  });
  return {
    $schema: 'http://json-schema.org/draft-04/schema#',
    title: `Invocation manifest for ${m.label}`,
    type: 'object',
    required: ['config', 'inputs'],
    properties: { config: section(configProps, configRequired), inputs: section(inputProps, inputRequired) },
  };
}
