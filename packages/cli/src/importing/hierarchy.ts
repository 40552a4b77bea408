import { type Acquisition, ApiError, type Client, type Group, type Project, type Session, type Subject } from '@sprocket/sdk';
import { CliError } from '../errors.js';

/** The project an import goes into; created in the group when it does not exist yet. */
export async function ensureProject(client: Client, groupId: string, label: string): Promise<{ project: Project; created: boolean }> {
  let group: Group;
  try {
    group = await client.getGroup(groupId);
  } catch (e) {
    // A group you cannot see answers as one that does not exist; either way this is what to do next.
    if (e instanceof ApiError && (e.status === 404 || e.status === 403))
      throw new CliError(`group "${groupId}" does not exist; create it with: sprocket group add ${groupId}`);
    throw e;
  }
  try {
    const found = await client.lookup<Project>([groupId, label]);
    return { project: found, created: false };
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
  return { project: await group.addProject({ label }), created: true };
}

/**
 * Subjects, sessions and acquisitions of one project, loaded with one listing per level and kept
 * in memory, so an import finds what earlier runs created and creates each container once even
 * when series are uploaded in parallel. Sessions and acquisitions match by DICOM UID first, then
 * by label among those without a UID.
 */
export class ProjectTree {
  private subjects: Subject[] = [];
  private sessions: Session[] = [];
  private acquisitions: Acquisition[] = [];
  private readonly pending = new Map<string, Promise<unknown>>();
  created = { subjects: 0, sessions: 0, acquisitions: 0 };

  constructor(readonly project: Project) {}

  async load(): Promise<this> {
    [this.subjects, this.sessions, this.acquisitions] = await Promise.all([
      this.project.subjects.find(),
      this.project.sessions.find(),
      this.project.acquisitions.find(),
    ]);
    return this;
  }

  /** Runs `make` once per key; concurrent callers share the result. */
  private once<T>(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.pending.get(key) as Promise<T> | undefined;
    if (!p) {
      p = make();
      this.pending.set(key, p);
      p.catch(() => this.pending.delete(key));
    }
    return p;
  }

  subject(label: string): Promise<Subject> {
    return this.once(`subject/${label}`, async () => {
      const found = this.subjects.find((s) => s.label === label);
      if (found) return found;
      const s = await this.project.addSubject({ label, code: label });
      this.subjects.push(s);
      this.created.subjects++;
      return s;
    });
  }

  session(subject: Subject, fields: { label: string; uid?: string }): Promise<Session> {
    return this.once(`session/${subject.id}/${fields.uid ?? ''}/${fields.label}`, async () => {
      const mine = this.sessions.filter((s) => (s.parents.subject ?? (s.subject as { id?: string } | undefined)?.id) === subject.id);
      const found =
        (fields.uid ? mine.find((s) => s.uid === fields.uid) : undefined) ?? mine.find((s) => !s.uid && s.label === fields.label);
      if (found) return found;
      const s = await subject.addSession({ label: fields.label, ...(fields.uid ? { uid: fields.uid } : {}) });
      this.sessions.push(s);
      this.created.sessions++;
      return s;
    });
  }

  acquisition(session: Session, fields: { label: string; uid?: string }): Promise<Acquisition> {
    return this.once(`acquisition/${session.id}/${fields.uid ?? ''}/${fields.label}`, async () => {
      const mine = this.acquisitions.filter((a) => a.parents.session === session.id);
      const found =
        (fields.uid ? mine.find((a) => a.uid === fields.uid) : undefined) ?? mine.find((a) => !a.uid && a.label === fields.label);
      if (found) return found;
      const a = await session.addAcquisition({ label: fields.label, ...(fields.uid ? { uid: fields.uid } : {}) });
      this.acquisitions.push(a);
      this.created.acquisitions++;
      return a;
    });
  }
}
