/**
 * The error catalogue: every failure the API reports has a code here, with its HTTP status and the
 * template its message follows. Server, SDK and CLI all read this one table so a code means the
 * same thing everywhere; docs/errors.md lists it (packages/types/test/errors.test.ts keeps the two
 * equal both ways, and fails on a code nothing throws).
 *
 * Codes are stable: clients may branch on them. Area codes (`JOB_*`, `GEAR_*` …) say what failed;
 * the generic ones (`NOT_FOUND`, `CONFLICT` …) remain for failures no area owns. A `{name}` in a
 * template is filled by `formatError`; the wire body always carries the filled message, which is
 * what Flywheel's SDK shows.
 */
export const ERRORS = {
  // Requests the server cannot read or that break a rule no area owns.
  BAD_REQUEST: { status: 400, message: '{reason}' },
  VALIDATION: { status: 400, message: '{where}: {rule}' },
  INVALID_JSON: { status: 400, message: '{reason}' },
  INVALID_FILTER: { status: 400, message: '{reason}' },
  NOT_FOUND: { status: 404, message: '{what} not found' },
  ROUTE_NOT_FOUND: { status: 404, message: 'no route {method} {path}' },
  FORBIDDEN: { status: 403, message: '{reason}' },
  CONFLICT: { status: 409, message: '{reason}' },
  PAYLOAD_TOO_LARGE: { status: 413, message: '{reason}' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: '{reason}' },
  INTERNAL: { status: 500, message: 'internal server error' },

  // Authentication: who is asking.
  AUTH_REQUIRED: { status: 401, message: 'an API key is required (Authorization: scitran-user <key>)' },
  AUTH_INVALID_KEY: { status: 401, message: 'invalid or revoked API key' },
  AUTH_DISABLED: { status: 401, message: '{kind} {name} is disabled' },
  AUTH_JOB_KEY_EXPIRED: { status: 401, message: 'API key of job {job} is no longer valid (job is {state})' },
  AUTH_TICKET_INVALID: { status: 401, message: 'download ticket is {reason}' },
  AUTH_KEY_NOT_FOUND: { status: 404, message: 'API key {id} not found' },
  AUTH_THROTTLED: { status: 429, message: 'too many failed sign-ins from this address: try again in {seconds} s' },
  DEVICE_NOT_FOUND: { status: 404, message: 'device {id} not found' },

  // Containers: groups, projects, subjects, sessions, acquisitions, analyses, collections.
  CONTAINER_NOT_FOUND: { status: 404, message: '{type} {id} not found' },
  CONTAINER_EXISTS: { status: 409, message: "{type} '{label}' already exists {where}" },
  GROUP_NOT_FOUND: { status: 404, message: 'group {id} not found' },
  GROUP_EXISTS: { status: 409, message: 'group {id} already exists' },
  COLLECTION_NOT_FOUND: { status: 404, message: 'collection {id} not found' },
  ANALYSIS_NOT_FOUND: { status: 404, message: 'analysis {id} under {type} {parent} not found' },
  TAG_NOT_FOUND: { status: 404, message: "tag '{tag}' on {type} {id} not found" },
  TAG_EXISTS: { status: 409, message: "tag '{tag}' already on {type} {id}" },

  // Users.
  USER_NOT_FOUND: { status: 404, message: 'user {id} not found' },
  USER_EXISTS: { status: 409, message: 'user {id} already exists' },

  // Files.
  FILE_NOT_FOUND: { status: 404, message: "file '{name}'{version} on {type} {id} not found" },
  INVALID_FILE_NAME: { status: 400, message: '{where}: file name {name} {problem}' },
  FILE_ZIP_MEMBER_NOT_FOUND: { status: 404, message: "member '{member}' not found in {file}" },
  RANGE_NOT_SATISFIABLE: { status: 416, message: '{reason}' },

  // Gears.
  GEAR_NOT_FOUND: { status: 404, message: 'gear {id} not found' },
  GEAR_NAME_NOT_FOUND: { status: 404, message: 'gear name {name} not found' },
  GEAR_EXISTS: { status: 409, message: 'gear {name} version {version} already exists{detail}' },
  GEAR_MANIFEST_INVALID: { status: 400, message: 'manifest.json is invalid: {problems}' },
  GEAR_IN_USE: { status: 409, message: 'gear {name} {version} has queued or running jobs (e.g. {job})' },

  // Jobs and batches.
  JOB_NOT_FOUND: { status: 404, message: 'job {id} not found' },
  JOB_STATE: { status: 409, message: 'job {id} is {state}; {reason}' },
  JOB_NOT_CLAIMED: { status: 409, message: 'job {id} is not claimed by this engine' },
  BATCH_NOT_FOUND: { status: 404, message: 'batch {id} not found' },
  BATCH_STATE: { status: 409, message: 'batch {id} {reason}' },
  RULE_NOT_FOUND: { status: 404, message: 'rule {id} not found' },

  // Views.
  VIEW_NOT_FOUND: { status: 404, message: 'view {id} not found' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** The `{name}` placeholders of a template, as a union of their names. */
type Placeholders<S extends string> = S extends `${string}{${infer P}}${infer Rest}` ? P | Placeholders<Rest> : never;

/** What `formatError` needs to fill one code's template: one value per placeholder, no more, no less. */
export type ErrorParams<C extends ErrorCode> = { [K in Placeholders<(typeof ERRORS)[C]['message']>]: string | number };

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

/** One code's message with its placeholders filled. */
export function formatError<C extends ErrorCode>(code: C, params: ErrorParams<C>): string {
  const values = params as Record<string, string | number>;
  return ERRORS[code].message.replace(/\{(\w+)\}/g, (_, name: string) => String(values[name]));
}

/** Shape of every error body the API sends. */
export interface ErrorBody {
  status: number;
  code: ErrorCode;
  message: string;
}
