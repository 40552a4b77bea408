import { ApiError, SdkError } from '@sprocket/sdk';

/** A failure the CLI explains itself; its message is the whole line the user sees. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** The API base an ApiError's request went to (`http://host:port/api`). */
function apiBase(url: string): string {
  const i = url.indexOf('/api');
  return i >= 0 ? url.slice(0, i + 4) : url;
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

/**
 * Any error as the single line `sprocket` prints before exiting non-zero. API refusals keep the
 * server's own message (it names the field and the reason); network failures name the URL.
 */
export function describeError(e: unknown): string {
  if (e instanceof CliError) return oneLine(e.message);
  if (e instanceof ApiError) {
    if (e.status === 0) {
      const why = /: ([A-Z_]+|[^:]+)$/.exec(e.message)?.[1] ?? e.message;
      return `cannot reach the Sprocket API at ${apiBase(e.url)} (${oneLine(why)})`;
    }
    if (e.status === 404 && /^no route /.test(e.message))
      return `this server does not offer ${e.message.slice(9)} yet (is it an older Sprocket?)`;
    if (e.status === 401) return `the API key was refused (${oneLine(e.message)}); log in again with 'sprocket login <key>'`;
    return `${oneLine(e.message)} (${e.status} ${e.code})`;
  }
  if (e instanceof SdkError) return oneLine(e.message);
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT' && err.path) return `no such file or directory: ${err.path}`;
  if (err?.code === 'EACCES' && err.path) return `permission denied: ${err.path}`;
  if (err?.code === 'EISDIR' && err.path) return `is a directory: ${err.path}`;
  if (err?.code === 'ENOTDIR' && err.path) return `not a directory: ${err.path}`;
  return oneLine(err?.message ?? String(e));
}

export function exitCodeOf(e: unknown): number {
  return e instanceof CliError ? e.exitCode : 1;
}

/** Ids are 24 hex digits; anything else is refused here with a message that says what was expected. */
export function checkId(kind: string, id: string): string {
  if (!/^[0-9a-f]{24}$/.test(id)) throw new CliError(`not a ${kind} id: '${id}' (ids are 24 hex digits)`);
  return id;
}
