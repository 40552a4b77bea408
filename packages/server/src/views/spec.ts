/**
 * Data views (Flywheel's DataView): a table over a project or any container below it, one row per
 * container, per matching file, or (with `fileSpec.processFiles`) per record inside matching files;
 * columns picked from container and file fields and `info`. Field names are the Python SDK's
 * (`attribute_map` of DataView, DataViewFileSpec, DataViewColumnSpec, DataViewNameFilterSpec,
 * DataViewAnalysisFilterSpec).
 */
export type ColumnType = 'string' | 'int' | 'float' | 'bool';
export const COLUMN_TYPES: readonly ColumnType[] = ['string', 'int', 'float', 'bool'];

export interface ColumnSpec {
  /** `project.label`, `subject.sex`, `session.info.site`, `file.info.snr`, `file.info` (flattened) … */
  src: string;
  /** Column name in the output; defaults to `src`. */
  dst?: string;
  /** Coerce to `string`, `int`, `float` or `bool`; values that cannot be coerced become null. */
  type?: ColumnType;
  /** Flywheel's column expressions; refused by name (not implemented). */
  expr?: string;
}

/** A name match: a glob (`*`, `?`), or a regular expression (RE2) with `regex: true`. */
export interface NameFilter {
  value: string;
  regex?: boolean;
}

export interface AnalysisFilter {
  label?: NameFilter | null;
  'gear.name'?: NameFilter | null;
  'gear.version'?: NameFilter | null;
}

export interface FileSpec {
  /**
   * The container level whose files make the rows. With `analysisFilter`, the files of the
   * analyses under containers of that level instead. `analysis` (a Sprocket shorthand) means the
   * analyses under acquisitions.
   */
  container: 'project' | 'subject' | 'session' | 'acquisition' | 'analysis';
  analysisFilter?: AnalysisFilter | null;
  filter?: NameFilter | null;
  /** With several matching files in one container: `first`, `last`, `newest`, `oldest` or `all` (default all). */
  match?: 'first' | 'last' | 'newest' | 'oldest' | 'all';
  /** Reads the records inside each matching file: one row per record (CSV/TSV row, JSON array element). */
  processFiles?: boolean;
  /** The files' format when their names do not tell: `csv`, `tsv` or `json`. */
  format?: 'csv' | 'tsv' | 'json';
  formatOptions?: { delimiter?: string } | null;
  /** The columns taken from each record (src = the record's field); all of them when empty. */
  columns?: ColumnSpec[] | null;
  zipMember?: NameFilter | null;
}

export interface DataViewSpec {
  _id?: string;
  parent?: string;
  label?: string;
  description?: string;
  columns: ColumnSpec[];
  fileSpec?: FileSpec | null;
  includeIds?: boolean;
  includeLabels?: boolean;
  /** `none` leaves missing values empty; `drop-row` drops rows with any missing value. */
  missingDataStrategy?: 'none' | 'drop-row';
  sort?: boolean;
}

export const LEVELS = ['project', 'subject', 'session', 'acquisition'] as const;
export type Level = (typeof LEVELS)[number];

const SRC = {
  type: 'string',
  minLength: 3,
  maxLength: 512,
  pattern: '^(project|subject|session|acquisition|analysis|file)\\.[A-Za-z0-9_.-]+$',
} as const;
// ajv's `nullable` (OpenAPI's), not anyOf with null: under coerceTypes 'array' a null branch would
// unwrap one-element arrays and turn errors inside the object into 'must be null'.
const nullable = <T extends object>(schema: T) => ({ ...schema, nullable: true }) as const;

const NAME_FILTER = {
  type: 'object',
  additionalProperties: false,
  required: ['value'],
  properties: { value: { type: 'string', minLength: 1, maxLength: 512 }, regex: { type: 'boolean' } },
} as const;

const columnSchema = (src: object) =>
  ({
    type: 'object',
    additionalProperties: false,
    required: ['src'],
    properties: {
      src,
      dst: { type: 'string', minLength: 1, maxLength: 256 },
      type: { type: 'string', enum: [...COLUMN_TYPES] },
      expr: { type: 'string', maxLength: 512 },
    },
  }) as const;

const FILE_SPEC = {
  type: 'object',
  additionalProperties: false,
  required: ['container'],
  properties: {
    container: { type: 'string', enum: ['project', 'subject', 'session', 'acquisition', 'analysis'] },
    analysisFilter: nullable({
      type: 'object',
      additionalProperties: false,
      properties: { label: nullable(NAME_FILTER), 'gear.name': nullable(NAME_FILTER), 'gear.version': nullable(NAME_FILTER) },
    }),
    filter: nullable(NAME_FILTER),
    match: { type: 'string', enum: ['first', 'last', 'newest', 'oldest', 'all'] },
    processFiles: { type: 'boolean' },
    format: { type: 'string', enum: ['csv', 'tsv', 'json'] },
    // The delimiters CSV readers meet in practice; a quote or line break would make records unparseable.
    formatOptions: nullable({
      type: 'object',
      additionalProperties: false,
      properties: { delimiter: { type: 'string', enum: [',', '\t', ';', '|', ' '] } },
    }),
    // A record's field names are free text (CSV headers), so file columns take any name.
    columns: nullable({ type: 'array', maxItems: 500, items: columnSchema({ type: 'string', minLength: 1, maxLength: 512 }) }),
    zipMember: nullable(NAME_FILTER),
  },
} as const;

const VIEW_PROPERTIES = {
  _id: { type: 'string' },
  parent: { type: 'string' },
  label: { type: 'string', maxLength: 256 },
  description: { type: 'string', maxLength: 5000 },
  columns: { type: 'array', maxItems: 500, items: columnSchema(SRC) },
  fileSpec: nullable(FILE_SPEC),
  includeIds: { type: 'boolean' },
  includeLabels: { type: 'boolean' },
  missingDataStrategy: { type: 'string', enum: ['none', 'drop-row'] },
  sort: { type: 'boolean' },
  origin: { type: 'object' },
} as const;

/** A whole view (POST bodies). */
export const dataViewSchema = { type: 'object', additionalProperties: false, required: ['columns'], properties: VIEW_PROPERTIES } as const;

/** `PUT /views/{id}`: any subset of a view's fields; a field not in the model is refused by name. */
export const dataViewPatchSchema = { type: 'object', additionalProperties: false, properties: VIEW_PROPERTIES } as const;

/** What a saved view keeps of a body: the wire-only `_id`, `parent` and `origin` are the server's. */
export function storedSpec(body: Record<string, unknown>): Record<string, unknown> {
  const { _id, parent, origin, ...spec } = body;
  return spec;
}
