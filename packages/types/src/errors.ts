/**
 * The error catalogue: every failure the API reports has a code here, with its HTTP status.
 * Server, SDK and CLI all read this one table so a code means the same thing everywhere.
 */
export const ERRORS = {
  BAD_REQUEST: 400,
  VALIDATION: 400,
  INVALID_ID: 400,
  INVALID_FILTER: 400,
  INVALID_FILE_NAME: 400,
  INVALID_JSON: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  RANGE_NOT_SATISFIABLE: 416,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** Shape of every error body the API sends. */
export interface ErrorBody {
  status: number;
  code: ErrorCode;
  message: string;
}
