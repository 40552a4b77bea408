import RE2 from 're2';
import { badRequest } from '../errors.js';

/**
 * Regular expressions written by users (list filters, rule conditions, data-view filters) run in
 * the server's own thread. JavaScript's engine backtracks: `(a|a)*b` against a 29-character label
 * took 6 s, doubling with each character, and stalled every other request meanwhile; no syntactic
 * check (star height, safe-regex) catches all such patterns. So they run on RE2 instead, whose
 * matching time is linear in the input whatever the pattern. RE2 has no backreferences or
 * lookarounds (those cannot be matched in linear time): patterns using them are refused by name.
 * The length bound keeps the compiled program small.
 */
export const MAX_USER_REGEX_LENGTH = 512;

export type UserRegex = RE2;

function explain(message: string): string {
  if (/^invalid escape sequence: \\([1-9]|k)/.test(message)) {
    return `backreferences (${message.slice('invalid escape sequence: '.length)}) are not supported: regular expressions run on RE2, which matches in linear time and has no backreferences`;
  }
  if (/^invalid perl operator: \(\?<?[=!]/.test(message)) {
    return `lookahead and lookbehind (${message.slice('invalid perl operator: '.length)}) are not supported: regular expressions run on RE2, which matches in linear time and has no lookarounds`;
  }
  return `not a valid regular expression: ${message}`;
}

export function userRegexProblem(pattern: string, flags = ''): string | undefined {
  if (pattern.length > MAX_USER_REGEX_LENGTH) return `regular expression longer than ${MAX_USER_REGEX_LENGTH} characters`;
  try {
    new RE2(pattern, flags);
  } catch (e) {
    return explain((e as Error).message);
  }
  return undefined;
}

/** Compiles a user's pattern or refuses it with a 400 naming `where`. */
export function compileUserRegex(pattern: string, flags: string, where: string): UserRegex {
  const problem = userRegexProblem(pattern, flags);
  if (problem) throw badRequest(`${where}: ${problem}`);
  return new RE2(pattern, flags);
}

const cache = new Map<string, UserRegex | null>();

/**
 * The compiled form of a pattern already checked (filters are checked when parsed), for matching
 * row after row without compiling each time; null when RE2 refuses it.
 */
export function cachedUserRegex(pattern: string, flags = ''): UserRegex | null {
  const key = `${flags}/${pattern}`;
  let re = cache.get(key);
  if (re === undefined) {
    re = userRegexProblem(pattern, flags) === undefined ? new RE2(pattern, flags) : null;
    if (cache.size >= 1000) cache.clear();
    cache.set(key, re);
  }
  return re;
}
