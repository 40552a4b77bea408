import {
  ApiError,
  type Client,
  type Container,
  FileEntry,
  type Gear,
  type Group,
  type LookupResult,
  type ResolveResult,
} from '@sprocket/sdk';
import { CliError } from './errors.js';

/** Splits a Sprocket path (`group/project/subject/session/acquisition[/files/name]`) into elements. */
export function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

const BARE_ID = /^[0-9a-f]{24}$/;
const ORDER = ['group', 'project', 'subject', 'session', 'acquisition'] as const;

/**
 * A path made of one container id (`sprocket info 65f0…`) as the id path the server resolves:
 * the container's ancestors, then `<id:…>` of its own (under `analyses/` for an analysis). Any
 * other path is returned split. A group whose id looks like a container id still resolves: the
 * id is tried as a container first, and when none has it, as the group it then names.
 */
export async function pathParts(client: Client, path: string): Promise<string[]> {
  const parts = splitPath(path);
  if (!parts.length) throw new CliError('a path is required, e.g. <group>/<project>/<subject>/<session>/<acquisition>');
  if (parts.length !== 1 || !BARE_ID.test(parts[0]!)) return parts;
  let found: Container;
  try {
    found = await client.get(parts[0]!);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 403)) return parts;
    throw e;
  }
  // GET /containers/{id} names groups and collections too: a group's id is its own path, and a
  // collection lives outside the tree that paths walk.
  const kind: string = found.containerType;
  if (kind === 'group') return parts;
  if (kind === 'collection')
    throw new CliError(`${parts[0]} is a collection, not a place in the hierarchy (see 'sprocket collection show ${parts[0]}')`);
  const parents = (found.parents ?? {}) as Record<string, string | undefined>;
  const chain = ORDER.filter((t) => t !== found.containerType && parents[t]).map((t, i) => (i === 0 ? parents[t]! : `<id:${parents[t]}>`));
  return found.containerType === 'analysis' ? [...chain, 'analyses', `<id:${found.id}>`] : [...chain, `<id:${found.id}>`];
}

/**
 * The one line for a path the server could not resolve: nothing (visible) there, or several
 * containers sharing the label (the server lists them with ids and dates; any of the ids works in
 * the label's place).
 */
function pathError(path: string, e: unknown): unknown {
  if (!(e instanceof ApiError)) return e;
  if (e.status === 404 || e.status === 403) return new CliError(`not found: ${path} (${e.message})`);
  if (e.status === 409 && /is ambiguous/.test(e.message)) return new CliError(e.message);
  return e;
}

/** What a path names, or a one-line error naming the path when nothing (visible) is there. */
export async function lookupPath<T extends LookupResult = LookupResult>(client: Client, path: string): Promise<T> {
  const parts = await pathParts(client, path);
  try {
    return await client.lookup<T>(parts);
  } catch (e) {
    throw pathError(path, e);
  }
}

/** Every object along a path and the children of the last (`ls`), with the same errors as lookupPath. */
export async function resolvePath(client: Client, path: string): Promise<ResolveResult> {
  const parts = await pathParts(client, path);
  try {
    return await client.resolve(parts);
  } catch (e) {
    throw pathError(path, e);
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
