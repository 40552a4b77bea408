import type { ErrorCode } from '@sprocket/types';

/**
 * What `ApiError.code` can be: a code of the server's catalogue (docs/errors.md), `UNREACHABLE`
 * when no answer came, or `HTTP_<status>` when the answer carried no code this SDK knows (a proxy's
 * error page, a server newer than the SDK: the body is still on `ApiError.body`).
 */
export type ApiErrorCode = ErrorCode | 'UNREACHABLE' | `HTTP_${number}`;

/**
 * A request the API refused (any non-2xx answer), or one that never got an answer (status 0).
 * Carries the request so a failure deep inside a loop still says which call it was.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    /** The API's error code (`JOB_NOT_FOUND`, `VALIDATION` …), see `ApiErrorCode`. */
    readonly code: ApiErrorCode,
    message: string,
    readonly method: string,
    readonly url: string,
    /** The parsed error body, when there was one. */
    readonly body?: unknown,
  ) {
    super(message);
  }

  override toString(): string {
    return `ApiError (${this.status}) ${this.message} [${this.method} ${this.url}]`;
  }
}

/**
 * `e` is an ApiError, with one of `codes` when any are given; narrows `e.code` to them:
 * `if (isApiError(e, 'JOB_NOT_FOUND')) …`.
 */
export function isApiError<C extends ApiErrorCode>(e: unknown, ...codes: C[]): e is ApiError & { readonly code: C } {
  return e instanceof ApiError && (codes.length === 0 || (codes as ApiErrorCode[]).includes(e.code));
}

/** A misuse the SDK catches itself, before any request (e.g. `findOne` matching two objects). */
export class SdkError extends Error {
  override readonly name = 'SdkError';
}
