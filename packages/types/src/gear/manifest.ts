import type { ErrorObject, ValidateFunction } from 'ajv';
import { lazy, newAjv } from './ajv.js';
import { isPlainObject, type JsonObject } from './json.js';
import { manifestResources, parseResources } from './resources.js';
import { toModernSchema } from './schema-compat.js';

/**
 * The gear manifest (gear spec §1.2–1.5) as a JSON schema, written from the spec's text. The spec's
 * own schema is draft-04 with `additionalProperties: false` at the top; the keywords used here mean
 * the same in draft-04 and in the draft Ajv implements.
 */

export interface FileInputSpec {
  base: 'file';
  description?: string;
  optional?: boolean;
  [directive: string]: unknown;
}
export interface ContextInputSpec {
  base: 'context';
  description?: string;
  optional?: boolean;
}
export interface ApiKeyInputSpec {
  base: 'api-key';
  description?: string;
  'read-only'?: boolean;
  optional?: boolean;
}
export type InputSpec = FileInputSpec | ContextInputSpec | ApiKeyInputSpec;

export interface ConfigSpec {
  type: 'string' | 'integer' | 'number' | 'boolean' | 'array';
  default?: unknown;
  optional?: boolean;
  description?: string;
  [keyword: string]: unknown;
}

export interface GearManifest {
  name: string;
  label: string;
  description: string;
  version: string;
  author: string;
  maintainer?: string;
  cite?: string;
  license: string;
  url: string;
  source: string;
  environment?: Record<string, string>;
  command?: string;
  config: Record<string, ConfigSpec>;
  inputs: Record<string, InputSpec>;
  capabilities?: string[];
  custom?: JsonObject;
  flywheel?: unknown;
  output_configuration?: { enforce_file_version_match?: boolean };
}

/** OSI-approved SPDX identifiers the spec lists, plus its two extra values. */
export const LICENSES = [
  'AFL-1.1',
  'AFL-1.2',
  'AFL-2.0',
  'AFL-2.1',
  'AFL-3.0',
  'APL-1.0',
  'Apache-1.1',
  'Apache-2.0',
  'APSL-1.0',
  'APSL-1.1',
  'APSL-1.2',
  'APSL-2.0',
  'Artistic-1.0',
  'Artistic-1.0-Perl',
  'Artistic-1.0-cl8',
  'Artistic-2.0',
  'AAL',
  'BSL-1.0',
  'BSD-2-Clause',
  'BSD-3-Clause',
  '0BSD',
  'CECILL-2.1',
  'CNRI-Python',
  'CDDL-1.0',
  'CPAL-1.0',
  'CPL-1.0',
  'CATOSL-1.1',
  'CUA-OPL-1.0',
  'EPL-1.0',
  'ECL-1.0',
  'ECL-2.0',
  'EFL-1.0',
  'EFL-2.0',
  'Entessa',
  'EUDatagrid',
  'EUPL-1.1',
  'Fair',
  'Flywheel MSA',
  'Frameworx-1.0',
  'AGPL-3.0',
  'GPL-2.0',
  'GPL-3.0',
  'LGPL-2.1',
  'LGPL-3.0',
  'LGPL-2.0',
  'HPND',
  'IPL-1.0',
  'Intel',
  'IPA',
  'ISC',
  'LPPL-1.3c',
  'LiLiQ-P-1.1',
  'LiLiQ-Rplus-1.1',
  'LiLiQ-R-1.1',
  'LPL-1.02',
  'LPL-1.0',
  'MS-PL',
  'MS-RL',
  'MirOS',
  'MIT',
  'Motosoto',
  'MPL-1.0',
  'MPL-1.1',
  'MPL-2.0',
  'MPL-2.0-no-copyleft-exception',
  'Multics',
  'NASA-1.3',
  'Naumen',
  'NGPL',
  'Nokia',
  'NPOSL-3.0',
  'NTP',
  'OCLC-2.0',
  'OGTSL',
  'OSL-1.0',
  'OSL-2.0',
  'OSL-2.1',
  'OSL-3.0',
  'OSET-PL-2.1',
  'PHP-3.0',
  'PostgreSQL',
  'Python-2.0',
  'QPL-1.0',
  'RPSL-1.0',
  'RPL-1.1',
  'RPL-1.5',
  'RSCPL',
  'OFL-1.1',
  'SimPL-2.0',
  'Sleepycat',
  'SISSL',
  'SPL-1.0',
  'Watcom-1.0',
  'UPL-1.0',
  'NCSA',
  'VSL-1.0',
  'W3C',
  'Xnet',
  'Zlib',
  'ZPL-2.0',
  'Other',
] as const;

const CONFIG_TYPES = ['string', 'integer', 'number', 'boolean', 'array'];

const text = (max: number) => ({ type: 'string', maxLength: max });

/** A config value's schema snippet: the author must give `type`; any other draft-04 keyword is allowed. */
const configSnippet = {
  type: 'object',
  required: ['type'],
  properties: {
    type: { enum: CONFIG_TYPES },
    description: { type: 'string' },
    optional: { type: 'boolean' },
    enum: { type: 'array', minItems: 1 },
    minimum: { type: 'number' },
    maximum: { type: 'number' },
    exclusiveMinimum: { type: ['boolean', 'number'] },
    exclusiveMaximum: { type: ['boolean', 'number'] },
    multipleOf: { type: 'number', exclusiveMinimum: 0 },
    minLength: { type: 'integer', minimum: 0 },
    maxLength: { type: 'integer', minimum: 0 },
    pattern: { type: 'string', format: 'regex' },
    items: { type: 'object' },
    minItems: { type: 'integer', minimum: 0 },
    maxItems: { type: 'integer', minimum: 0 },
  },
};

/** File inputs: besides base/description/optional, every key is a schema directive on a file field. */
const fileInput = {
  type: 'object',
  properties: { base: { const: 'file' }, description: { type: 'string' }, optional: { type: 'boolean' } },
  additionalProperties: { type: 'object' },
};
const contextInput = {
  type: 'object',
  properties: { base: { const: 'context' }, description: { type: 'string' }, optional: { type: 'boolean' } },
  additionalProperties: false,
};
const apiKeyInput = {
  type: 'object',
  properties: {
    base: { const: 'api-key' },
    description: { type: 'string' },
    'read-only': { type: 'boolean' },
    optional: { type: 'boolean' },
  },
  additionalProperties: false,
};

/** JSON schema's if/then: the rules of an input follow its `base`. */
function whenBase(base: string, schema: object) {
  // biome-ignore lint/suspicious/noThenProperty: `then` is the JSON-schema keyword here, not a promise
  return { if: { properties: { base: { const: base } } }, then: schema };
}

export const MANIFEST_SCHEMA = {
  title: 'Gear manifest (gear spec §1.2)',
  type: 'object',
  additionalProperties: false,
  required: ['author', 'config', 'description', 'inputs', 'label', 'license', 'name', 'source', 'url', 'version'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[a-z0-9\\-]+$' },
    label: text(100),
    description: text(5000),
    version: { type: 'string', minLength: 1, maxLength: 100 },
    author: text(100),
    maintainer: text(100),
    cite: text(5000),
    license: { enum: LICENSES },
    url: { type: 'string', maxLength: 1000, format: 'uri-or-empty' },
    source: { type: 'string', maxLength: 1000, format: 'uri-or-empty' },
    environment: { type: 'object', additionalProperties: { type: 'string' } },
    command: { type: 'string' },
    config: { type: 'object', additionalProperties: configSnippet },
    inputs: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['base'],
        properties: { base: { enum: ['file', 'context', 'api-key'] } },
        allOf: [whenBase('file', fileInput), whenBase('context', contextInput), whenBase('api-key', apiKeyInput)],
      },
    },
    capabilities: { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true },
    custom: { type: 'object' },
    flywheel: {},
    output_configuration: {
      type: 'object',
      additionalProperties: false,
      properties: { enforce_file_version_match: { type: 'boolean' } },
    },
  },
} as const;

function isUriOrEmpty(s: string): boolean {
  return s === '' || (/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(s) && URL.canParse(s));
}

function isRegex(s: string): boolean {
  try {
    new RegExp(s, 'u');
    return true;
  } catch {
    return false;
  }
}

const manifestValidator = lazy(() => {
  const ajv = newAjv({ allErrors: true, strict: false });
  ajv.addFormat('uri-or-empty', isUriOrEmpty);
  ajv.addFormat('regex', isRegex);
  return ajv.compile(MANIFEST_SCHEMA);
});

/** A JSON path in the form people read: `config.tile_size.type`, `inputs["my input"].base`. */
export function jsonPath(base: string, instancePath: string): string {
  let out = base;
  for (const raw of instancePath.split('/').slice(1)) {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(seg) ? `.${seg}` : `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** One Ajv error as `<path>: <rule broken>`, in words that name the rule and the allowed values. */
export function describeError(base: string, e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  let path = jsonPath(base, e.instancePath);
  let rule: string;
  switch (e.keyword) {
    case 'required':
      path = jsonPath(base, `${e.instancePath}/${String(p.missingProperty).replaceAll('~', '~0').replaceAll('/', '~1')}`);
      rule = 'is required';
      break;
    case 'additionalProperties':
      path = jsonPath(base, `${e.instancePath}/${String(p.additionalProperty).replaceAll('~', '~0').replaceAll('/', '~1')}`);
      rule = 'is not allowed here (additionalProperties: false)';
      break;
    case 'enum':
      rule = `must be one of ${(p.allowedValues as unknown[]).length > 12 ? 'the listed values' : (p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')} (enum)`;
      if (base === 'manifest' && e.instancePath === '/license')
        rule = 'must be an OSI-approved SPDX license id, "Flywheel MSA" or "Other" (enum)';
      break;
    case 'const':
      rule = `must be ${JSON.stringify(p.allowedValue)} (const)`;
      break;
    case 'pattern':
      rule = `must match the pattern ${String(p.pattern)} (pattern)`;
      break;
    case 'format':
      rule =
        p.format === 'uri-or-empty'
          ? 'must be a URI or the empty string (format)'
          : p.format === 'regex'
            ? 'must be a valid regular expression (format)'
            : `must match format ${String(p.format)}`;
      break;
    case 'type':
      rule = `must be of type ${Array.isArray(p.type) ? p.type.join(' or ') : String(p.type)} (type)`;
      break;
    default:
      rule = `${e.message ?? 'is invalid'} (${e.keyword})`;
  }
  return `${path}: ${rule}`;
}

/** Errors worth showing: the wrappers (`if`/`allOf`) only repeat what their branches said. */
export function describeErrors(base: string, errors: ErrorObject[] | null | undefined, max = 5): string[] {
  const useful = (errors ?? []).filter((e) => e.keyword !== 'if' && e.keyword !== 'allOf');
  return [...new Set(useful.map((e) => describeError(base, e)))].slice(0, max);
}

export interface ManifestCheck {
  errors: string[];
  /** Accepted, but a job relying on what they name will fail (e.g. a default that breaks its own type). */
  warnings: string[];
}

/** Validates a parsed manifest against the spec. Errors make the gear unusable; warnings do not. */
export function checkManifest(m: unknown): ManifestCheck {
  if (!isPlainObject(m)) return { errors: ['manifest: must be a JSON object'], warnings: [] };
  const validateShape = manifestValidator();
  const errors = validateShape(m) ? [] : describeErrors('manifest', validateShape.errors, 10);
  const warnings: string[] = [];
  if (errors.length) return { errors, warnings };
  const manifest = m as unknown as GearManifest;
  const resources = parseResources(manifestResources(manifest.custom), 'manifest.custom.sprocket.resources');
  if (resources.problem) errors.push(resources.problem);
  for (const [key, spec] of Object.entries(manifest.config)) {
    const where = jsonPath('manifest.config', `/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`);
    // The spec (and its examples/invalid-default-optional): a key may not carry both.
    if ('optional' in spec && 'default' in spec) {
      errors.push(`${where}: 'default' and 'optional' cannot both be set`);
      continue;
    }
    let check: ReturnType<typeof compileSnippet>;
    try {
      check = compileSnippet(spec);
    } catch (e) {
      errors.push(`${where}: not a usable JSON schema: ${(e as Error).message}`);
      continue;
    }
    if ('default' in spec && !check(spec.default)) {
      const why = describeErrors('', check.errors, 1)[0]?.replace(/^: /, '') ?? 'is invalid';
      warnings.push(`${where}.default: ${JSON.stringify(spec.default)} ${why}; a job using the default will be refused`);
    }
  }
  for (const [key, spec] of Object.entries(manifest.inputs)) {
    if (spec.base !== 'file') continue;
    try {
      compileFileInput(spec as FileInputSpec);
    } catch (e) {
      errors.push(
        `${jsonPath('manifest.inputs', `/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`)}: not a usable JSON schema: ${(e as Error).message}`,
      );
    }
  }
  return { errors, warnings };
}

const valueAjv = lazy(() => newAjv({ allErrors: true, strict: false }));
const snippetCache = new WeakMap<object, ValidateFunction>();

/** The validator of one config value (the snippet, read as draft-04). */
export function compileSnippet(spec: ConfigSpec) {
  let v = snippetCache.get(spec);
  if (!v) {
    v = valueAjv().compile(toModernSchema(spec));
    snippetCache.set(spec, v);
  }
  return v;
}

/** Fields of a file a file input's directives may constrain (the spec's file object). */
export const FILE_INPUT_RESERVED = new Set(['base', 'description', 'optional']);

/** The validator of a candidate file for one file input: every directive constrains that file field. */
export function compileFileInput(spec: FileInputSpec) {
  let v = snippetCache.get(spec);
  if (!v) {
    const properties: JsonObject = {};
    for (const [k, d] of Object.entries(spec)) if (!FILE_INPUT_RESERVED.has(k)) properties[k] = toModernSchema(d as JsonObject);
    v = valueAjv().compile({ type: 'object', properties });
    snippetCache.set(spec, v);
  }
  return v;
}
