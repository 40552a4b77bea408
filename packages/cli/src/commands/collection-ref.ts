import { type Acquisition, ApiError, type Client, Collection, type Session } from '@sprocket/sdk';
import { CliError } from '../errors.js';
import { lookupContainer } from '../paths.js';

/**
 * Shared by the `collection` commands: naming a collection by label or id, naming its members by
 * path, and printing members by path. Collections live outside the group → project tree, so their
 * labels are looked up as `collections/<label>` rather than walked like container paths.
 */

const BARE_ID = /^[0-9a-f]{24}$/;

/** The collection a user named: its id, or its label when exactly one visible collection has it. */
export async function collectionAt(client: Client, ref: string): Promise<Collection> {
  if (BARE_ID.test(ref)) {
    try {
      return await client.getCollection(ref);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
      // A label that happens to look like an id: try it as one.
    }
  }
  try {
    const found = await client.lookup(['collections', ref]);
    if (found instanceof Collection) return found;
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) throw new CliError(`${e.message}`);
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
  throw new CliError(`no collection '${ref}' (see 'sprocket collection ls')`);
}

export interface Members {
  sessions: string[];
  acquisitions: string[];
}

/** Session and acquisition ids of the paths given; anything else is refused naming the path. */
export async function membersAt(client: Client, paths: string[]): Promise<Members> {
  const out: Members = { sessions: [], acquisitions: [] };
  for (const p of paths) {
    const c = await lookupContainer(client, p, 'a session or acquisition');
    if (c.containerType === 'session') out.sessions.push(c.id);
    else if (c.containerType === 'acquisition') out.acquisitions.push(c.id);
    else throw new CliError(`${p} is a ${c.containerType}: collections hold sessions and acquisitions (give their paths)`);
  }
  return out;
}

/** Paths (`group/project/subject/session[/acquisition]`) of members, labels fetched once each. */
export class PathNamer {
  private readonly labels = new Map<string, Promise<string>>();
  private readonly sessions = new Map<string, Promise<Session | undefined>>();

  constructor(private readonly client: Client) {}

  private label(kind: 'project' | 'session', id: string | undefined): Promise<string> {
    if (!id) return Promise.resolve('?');
    let l = this.labels.get(id);
    if (!l) {
      const get = kind === 'project' ? this.client.getProject(id) : this.client.getSession(id);
      l = get.then((c) => c.label).catch(() => `<id:${id}>`);
      this.labels.set(id, l);
    }
    return l;
  }

  async session(s: Session): Promise<string> {
    const subject = (s.subject as { label?: string; code?: string } | undefined)?.label ?? '?';
    return [s.parents.group, await this.label('project', s.parents.project), subject, s.label].join('/');
  }

  async acquisition(a: Acquisition): Promise<string> {
    const id = a.parents.session!;
    let session = this.sessions.get(id);
    if (!session) {
      session = this.client.getSession(id).catch(() => undefined);
      this.sessions.set(id, session);
    }
    const s = await session;
    return s ? `${await this.session(s)}/${a.label}` : `${a.parents.group}/${await this.label('project', a.parents.project)}/?/${a.label}`;
  }
}
