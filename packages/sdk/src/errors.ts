/**
 * A request the API refused (any non-2xx answer), or one that never got an answer (status 0).
 * Carries the request so a failure deep inside a loop still says which call it was.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    /** The API's error code (`NOT_FOUND`, `VALIDATION` …), or `UNREACHABLE` when no answer came. */
    readonly code: string,
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

/** A misuse the SDK catches itself, before any request (e.g. `findOne` matching two objects). */
export class SdkError extends Error {
  override readonly name = 'SdkError';
}
