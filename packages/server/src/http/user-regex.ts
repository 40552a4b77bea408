import safeRegex from 'safe-regex2';
import { badRequest } from '../errors.js';

/**
 * Regular expressions written by users (list filters, rule conditions, data-view name filters) run
 * in the server's own thread, where one catastrophically backtracking pattern such as `(a+)+$`
 * could stall every request for seconds. They are checked before use: bounded length, and no
 * nested quantifiers (star height above one), the shape behind exponential backtracking.
 */
const MAX_LENGTH = 512;

export function userRegexProblem(pattern: string, flags = ''): string | undefined {
  if (pattern.length > MAX_LENGTH) return `regular expression longer than ${MAX_LENGTH} characters`;
  try {
    new RegExp(pattern, flags);
  } catch (e) {
    return `not a valid regular expression: ${(e as Error).message}`;
  }
  if (!safeRegex(pattern)) return 'regular expression nests quantifiers (like (a+)+), which can take exponential time; rewrite it without the nesting';
  return undefined;
}

/** Compiles a user's pattern or refuses it with a 400 naming `where`. */
export function compileUserRegex(pattern: string, flags: string, where: string): RegExp {
  const problem = userRegexProblem(pattern, flags);
  if (problem) throw badRequest(`${where}: ${problem}`);
  return new RegExp(pattern, flags);
}
