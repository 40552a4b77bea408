import { ApiError, type Client, type Container, FileEntry, type Gear, type Group, type LookupResult } from '@sprocket/sdk';
import { CliError } from './errors.js';

/** Splits a Sprocket path (`group/project/subject/session/acquisition[/files/name]`) into elements. */
export function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

/** What a path names, or a one-line error naming the path when nothing (visible) is there. */
export async function lookupPath<T extends LookupResult = LookupResult>(client: Client, path: string): Promise<T> {
  const parts = splitPath(path);
  if (!parts.length) throw new CliError('a path is required, e.g. <group>/<project>/<subject>/<session>/<acquisition>');
  try {
    return await client.lookup<T>(parts);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 403)) throw new CliError(`not found: ${path} (${e.message})`);
    throw e;
  }
}

export type HierarchyObject = Group | Container;

/** A container (group … acquisition, analysis) at the path; files and gears are refused. */
export async function lookupContainer(client: Client, path: string, what = 'a container'): Promise<HierarchyObject> {
  const found = await lookupPath(client, path);
  if (found instanceof FileEntry) throw new CliError(`${path} is a file, not ${what}`);
  if ('gear' in found && (found as Gear).gear) throw new CliError(`${path} is a gear, not ${what}`);
  return found as HierarchyObject;
}

/** A file at the path (`…/files/<name>`). */
export async function lookupFile(client: Client, path: string): Promise<FileEntry> {
  const found = await lookupPath(client, path);
  if (!(found instanceof FileEntry)) throw new CliError(`${path} is not a file (file paths end in /files/<name>)`);
  return found;
}

/** The type of an SDK object as the API names it. */
export function typeOf(x: LookupResult): string {
  if (x instanceof FileEntry) return 'file';
  if ('gear' in x && (x as Gear).gear && 'category' in x) return 'gear';
  return (x as HierarchyObject).containerType;
}

/** A gear by `name` or `name/version` (latest version when none is given). */
export async function lookupGear(client: Client, spec: string): Promise<Gear> {
  const parts = splitPath(spec);
  if (parts.length < 1 || parts.length > 2) throw new CliError(`not a gear name: '${spec}' (use <name> or <name>/<version>)`);
  try {
    return await client.lookup<Gear>(['gears', ...parts]);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) throw new CliError(`no gear '${spec}' is installed (see 'sprocket gear ls')`);
    throw e;
  }
}
