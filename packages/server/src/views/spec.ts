/**
 * Data views (Flywheel's DataViewSpec): a table over a project or any container below it, one row per
 * container or per matching file, columns picked from container and file fields and `info`.
 */
export interface ColumnSpec {
  /** `project.label`, `subject.sex`, `session.info.site`, `file.info.snr`, `file.info` (flattened) … */
  src: string;
  /** Column name in the output; defaults to `src`. */
  dst?: string;
  /** Coerce to `string`, `int`, `float` or `bool`; values that cannot be coerced become empty. */
  type?: 'string' | 'int' | 'float' | 'bool';
}

export interface FileSpec {
  /** The container level whose files make the rows. */
  container: 'project' | 'subject' | 'session' | 'acquisition' | 'analysis';
  /** File name filter: a glob (`*_qa.json`), or a regular expression with `regex: true`. */
  filter?: { value: string; regex?: boolean } | null;
  /** With several matching files in one container: `first`, `last`, `newest`, `oldest` or `all` (default all). */
  match?: 'first' | 'last' | 'newest' | 'oldest' | 'all';
  processFiles?: boolean;
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

const SRC = { type: 'string', minLength: 3, maxLength: 512, pattern: '^(project|subject|session|acquisition|analysis|file)\\.[A-Za-z0-9_.-]+$' } as const;

export const dataViewSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['columns'],
  properties: {
    _id: { type: 'string' },
    parent: { type: 'string' },
    label: { type: 'string', maxLength: 256 },
    description: { type: 'string', maxLength: 5000 },
    columns: {
      type: 'array',
      maxItems: 500,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['src'],
        properties: { src: SRC, dst: { type: 'string', minLength: 1, maxLength: 256 }, type: { type: 'string', enum: ['string', 'int', 'float', 'bool'] } },
      },
    },
    fileSpec: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          additionalProperties: false,
          required: ['container'],
          properties: {
            container: { type: 'string', enum: ['project', 'subject', 'session', 'acquisition', 'analysis'] },
            filter: {
              anyOf: [
                { type: 'null' },
                { type: 'object', additionalProperties: false, required: ['value'], properties: { value: { type: 'string', minLength: 1 }, regex: { type: 'boolean' } } },
              ],
            },
            match: { type: 'string', enum: ['first', 'last', 'newest', 'oldest', 'all'] },
            processFiles: { type: 'boolean' },
            format: { type: 'string' },
            columns: { type: 'array' },
            zipMember: {},
            formatOptions: { type: 'object' },
            analysisFilter: {},
          },
        },
      ],
    },
    includeIds: { type: 'boolean' },
    includeLabels: { type: 'boolean' },
    missingDataStrategy: { type: 'string', enum: ['none', 'drop-row'] },
    sort: { type: 'boolean' },
    origin: { type: 'object' },
  },
} as const;
