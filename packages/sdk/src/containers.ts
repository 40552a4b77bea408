import { SdkError } from './errors.js';
import { FileEntry } from './file-entry.js';
import {
  type DownloadOptions,
  type DownloadToOptions,
  type UploadSource,
  type ZipInfo,
  downloadTo,
  downloadZipMemberTo,
  fileParts,
  readAll,
  readZipMember,
  zipInfo,
} from './files.js';
import { Finder } from './finder.js';
import { Job, type JobListOptions, jobQuery } from './jobs.js';
import { type Json, Model, withIds } from './model.js';
import { PLURAL, makeObject, registerClass } from './registry.js';
import type { RouteName } from './routes.js';
import type { ContainerRef, FileRef, GroupPermission, Note, Parents, ProjectPermission, Rule, RuleInput } from './types.js';

/**
 * The container classes of Flywheel's SDK in one file on purpose (past 400 lines): they are one
 * hierarchy (Container → ParentContainer → Project … Analysis, and Group) whose classes refer to
 * each other (a project's finders make subjects, a subject's make sessions) and are registered
 * with registry.ts together at the end; split up, the modules would import each other in a ring.
 */

export interface UploadOptions {
  /** Fields for the uploaded file(s): `{type, modality, classification, info, tags}`. */
  metadata?: Json;
}

export interface AnalysisInputSpec {
  label: string;
  description?: string;
  /** Files the analysis is about (FileEntry objects or `{type, id, name}` refs). */
  inputs?: (FileEntry | FileRef)[];
  info?: Json;
  tags?: string[];
}

const toRef = (x: FileEntry | FileRef): FileRef => (x instanceof FileEntry ? x.ref() : x);

/** What every hierarchy container (project … acquisition, analysis) has and can do. */
export abstract class Container extends Model {
  declare label: string;
  declare container_type: string;
  declare parents: Parents;
  /** Only after a single GET (`reload()`); list results leave it out, as Flywheel's do. */
  declare info?: Json;
  declare info_exists: boolean;
  declare tags: string[];
  declare notes: Note[];
  declare files: FileEntry[];
  declare created: string;
  declare modified: string;

  abstract get containerType(): 'project' | 'subject' | 'session' | 'acquisition' | 'analysis';

  protected get cont(): string {
    return PLURAL[this.containerType]!;
  }

  protected get params(): { cont: string; id: string } {
    return { cont: this.cont, id: this.id };
  }

  protected override convert(key: string, value: unknown): unknown {
    if (key === 'files' && Array.isArray(value)) return value.map((f: Json) => new FileEntry(this.client, f, this));
    if (key === 'notes') return withIds<Note>(value);
    return value;
  }

  /** `{type, id}` of this container, as job destinations and batch targets take it. */
  ref(): ContainerRef {
    return { type: this.containerType, id: this.id };
  }

  /** Fetches the full document (with `info`, and files with theirs). */
  async reload(): Promise<this> {
    const doc = await this.client.transport.json<Json>('getContainer', { params: this.params });
    this.assign(doc, true);
    return this;
  }

  /** Changes fields (`label`, `info` as a whole, type-specific fields such as a subject's `sex`). */
  async update(fields: Json): Promise<this> {
    await this.client.transport.json('modifyContainer', { params: this.params, body: fields });
    for (const [k, v] of Object.entries(fields)) (this as unknown as Json)[k] = this.convert(k, v);
    return this;
  }

  /** Sets info keys, leaving the others. */
  async updateInfo(set: Json): Promise<this> {
    await this.client.transport.json('modifyContainerInfo', { params: this.params, body: { set } });
    if (this.info) this.info = { ...this.info, ...set };
    return this;
  }

  async replaceInfo(info: Json): Promise<this> {
    await this.client.transport.json('modifyContainerInfo', { params: this.params, body: { replace: info } });
    this.info = info;
    return this;
  }

  /** Deletes info keys; dotted keys reach into nested objects. */
  async deleteInfo(...keys: (string | string[])[]): Promise<this> {
    const del = keys.flat();
    await this.client.transport.json('modifyContainerInfo', { params: this.params, body: { delete: del } });
    if (this.info) for (const k of del) delete this.info[k];
    return this;
  }

  async addTag(tag: string): Promise<this> {
    await this.client.transport.json('addContainerTag', { params: this.params, body: { value: tag } });
    if (this.tags && !this.tags.includes(tag)) this.tags.push(tag);
    return this;
  }

  async deleteTag(tag: string): Promise<this> {
    await this.client.transport.json('deleteContainerTag', { params: { ...this.params, value: tag } });
    if (this.tags) this.tags = this.tags.filter((t) => t !== tag);
    return this;
  }

  /** Adds a note; returns its id. */
  async addNote(text: string): Promise<string> {
    const { _id } = await this.client.transport.json<{ _id: string }>('addContainerNote', { params: this.params, body: { text } });
    return _id;
  }

  async deleteNote(noteId: string): Promise<void> {
    await this.client.transport.json('deleteContainerNote', { params: { ...this.params, nid: noteId } });
  }

  /**
   * Uploads a file from disk (streamed, never read whole into memory) or from memory
   * (`{name, data}`); a file of the same name becomes a new version. Returns the new entry.
   */
  async uploadFile(source: UploadSource, opts: UploadOptions = {}): Promise<FileEntry> {
    const [entry] = await this.uploadFiles([source], opts);
    return entry!;
  }

  /** Uploads several files in one request. */
  async uploadFiles(sources: UploadSource[], opts: UploadOptions = {}): Promise<FileEntry[]> {
    const parts = await fileParts(sources);
    if (opts.metadata !== undefined) parts.unshift({ name: 'metadata', value: JSON.stringify(opts.metadata) });
    const docs = await this.client.transport.upload<Json[]>('uploadFile', this.params, parts);
    const entries = (docs ?? []).map((d) => new FileEntry(this.client, d, this));
    if (Array.isArray(this.files)) {
      const names = new Set(entries.map((e) => e.name));
      this.files = [...this.files.filter((f) => !names.has(f.name)), ...entries];
    }
    return entries;
  }

  /** The file of that name as last fetched, or undefined. */
  getFile(name: string): FileEntry | undefined {
    return this.files?.find((f) => f.name === name);
  }

  /** Streams the named file to disk; returns the path written. */
  downloadFile(name: string, dest: string, opts?: DownloadToOptions): Promise<string> {
    return downloadTo(this.client, { ...this.params, name }, dest, opts);
  }

  readFile(name: string, opts?: DownloadOptions): Promise<Buffer> {
    return readAll(this.client, { ...this.params, name }, opts);
  }

  /** The members of the named zip file (Flywheel's `get_file_zip_info`). */
  getFileZipInfo(name: string, opts?: DownloadOptions): Promise<ZipInfo> {
    return zipInfo(this.client, { ...this.params, name }, opts);
  }

  /** Streams one member of the named zip file to `dest` (Flywheel's `download_file_zip_member`); returns the path written. */
  downloadFileZipMember(name: string, member: string, dest: string, opts?: DownloadOptions): Promise<string> {
    return downloadZipMemberTo(this.client, { ...this.params, name }, member, dest, opts);
  }

  /** One member of the named zip file in memory (Flywheel's `read_file_zip_member`). */
  readFileZipMember(name: string, member: string, opts?: DownloadOptions): Promise<Buffer> {
    return readZipMember(this.client, { ...this.params, name }, member, opts);
  }

  async deleteFile(name: string): Promise<void> {
    await this.client.transport.json('deleteFile', { params: { ...this.params, name } });
    if (Array.isArray(this.files)) this.files = this.files.filter((f) => f.name !== name);
  }

  /** Jobs whose inputs or outputs touch this container (Flywheel's provenance view). */
  async getJobs(opts: JobListOptions = {}): Promise<Job[]> {
    const res = await this.client.transport.json<{ jobs: Json[] }>('listContainerJobs', { params: this.params, query: jobQuery(opts) });
    return res.jobs.map((j) => new Job(this.client, j));
  }

  /** Deletes this container and everything under it. */
  async delete(): Promise<void> {
    await this.client.transport.json('deleteContainer', { params: this.params });
  }

  protected finder<T>(route: RouteName, type: string): Finder<T> {
    return new Finder<T>(this.client, route, { id: this.id }, (d) => makeObject(this.client, type, d) as T, PLURAL[type]!);
  }

  protected async createChild<T>(type: string, route: RouteName, body: Json): Promise<T> {
    const { _id } = await this.client.transport.json<{ _id: string }>(route, { body });
    return this.client.getContainer<T>(type, _id);
  }
}

const CHILD_ANALYSIS_ROUTES: Record<string, RouteName | undefined> = {
  'project/subjects': 'listProjectSubjectAnalyses',
  'project/sessions': 'listProjectSessionAnalyses',
  'project/acquisitions': 'listProjectAcquisitionAnalyses',
  'subject/sessions': 'listSubjectSessionAnalyses',
  'subject/acquisitions': 'listSubjectAcquisitionAnalyses',
  'session/acquisitions': 'listSessionAcquisitionAnalyses',
};

/** A container analyses can hang off (project, subject, session, acquisition). */
export abstract class ParentContainer extends Container {
  get analyses(): Finder<Analysis> {
    return new Finder<Analysis>(this.client, 'listAnalyses', this.params, (d) => new Analysis(this.client, d), 'analyses');
  }

  /**
   * Flywheel's `get_analyses(cont, id, sub)`: the analyses hung off this container's `subjects`,
   * `sessions` or `acquisitions`, or `all` of them at and below it (the ones the caller may see).
   */
  analysesOf(children: 'subjects' | 'sessions' | 'acquisitions' | 'all'): Finder<Analysis> {
    const route = children === 'all' ? 'listAllAnalyses' : CHILD_ANALYSIS_ROUTES[`${this.containerType}/${children}`];
    if (!route) throw new SdkError(`a ${this.containerType} has no ${children}; use 'all' or a kind of container below it`);
    const params: Record<string, string> = children === 'all' ? this.params : { id: this.id };
    return new Finder<Analysis>(this.client, route, params, (d) => new Analysis(this.client, d), 'analyses');
  }

  /** An analysis without a job (results uploaded by the caller); returns it. */
  async addAnalysis(spec: AnalysisInputSpec): Promise<Analysis> {
    const body: Json = { ...spec, ...(spec.inputs ? { inputs: spec.inputs.map(toRef) } : {}) };
    const { _id } = await this.client.transport.json<{ _id: string }>('addAnalysis', { params: this.params, body });
    return this.client.getAnalysis(_id);
  }
}

export class Group extends Model {
  declare label: string;
  declare info?: Json;
  declare tags: string[];
  declare permissions: GroupPermission[];
  declare created: string;
  declare modified: string;

  get containerType(): 'group' {
    return 'group';
  }

  protected override convert(key: string, value: unknown): unknown {
    return key === 'permissions' ? withIds<GroupPermission>(value) : value;
  }

  get projects(): Finder<Project> {
    return new Finder<Project>(this.client, 'listGroupProjects', { id: this.id }, (d) => new Project(this.client, d), 'projects');
  }

  ref(): ContainerRef {
    return { type: 'group', id: this.id };
  }

  async reload(): Promise<this> {
    this.assign(await this.client.transport.json<Json>('getGroup', { params: { id: this.id } }), true);
    return this;
  }

  async update(fields: { label?: string; tags?: string[] }): Promise<this> {
    await this.client.transport.json('modifyGroup', { params: { id: this.id }, body: fields });
    Object.assign(this, fields);
    return this;
  }

  async addTag(tag: string): Promise<this> {
    await this.client.transport.json('addGroupTag', { params: { id: this.id }, body: { value: tag } });
    if (this.tags && !this.tags.includes(tag)) this.tags.push(tag);
    return this;
  }

  /** Creates a project in this group and returns it. */
  async addProject(fields: { label: string; description?: string; info?: Json; tags?: string[] }): Promise<Project> {
    const { _id } = await this.client.transport.json<{ _id: string }>('addProject', { body: { ...fields, group: this.id } });
    return this.client.getProject(_id);
  }

  async addPermission(permission: { id: string; access: GroupPermission['access'] }): Promise<void> {
    await this.client.addGroupPermission(this.id, permission);
  }

  async updatePermission(userId: string, access: GroupPermission['access']): Promise<void> {
    await this.client.modifyGroupUserPermission(this.id, userId, access);
  }

  async deletePermission(userId: string): Promise<void> {
    await this.client.deleteGroupUserPermission(this.id, userId);
  }

  getUserPermission(userId: string): Promise<GroupPermission> {
    return this.client.getGroupUserPermission(this.id, userId);
  }

  async getPermissions(): Promise<GroupPermission[]> {
    return withIds<GroupPermission>(await this.client.transport.json<Json[]>('getGroupPermissions', { params: { id: this.id } }));
  }

  /** Deletes the group (it must have no projects left). */
  async delete(): Promise<void> {
    await this.client.transport.json('deleteGroup', { params: { id: this.id } });
  }
}

export class Project extends ParentContainer {
  declare group: string;
  declare description?: string;

  get containerType(): 'project' {
    return 'project';
  }

  get subjects(): Finder<Subject> {
    return this.finder('listProjectSubjects', 'subject');
  }

  get sessions(): Finder<Session> {
    return this.finder('listProjectSessions', 'session');
  }

  get acquisitions(): Finder<Acquisition> {
    return this.finder('listProjectAcquisitions', 'acquisition');
  }

  /** Creates a subject (`{label, type, sex, …}`) and returns it. */
  addSubject(fields: Json & { label: string }): Promise<Subject> {
    return this.createChild('subject', 'addSubject', { ...fields, project: this.id });
  }

  /** Creates a session; `subject` names (or creates) its subject, else one labelled like the session. */
  addSession(fields: Json & { label: string; subject?: { id?: string; label?: string } | Subject }): Promise<Session> {
    const { subject, ...rest } = fields;
    const body: Json = { ...rest, project: this.id };
    if (subject instanceof Subject) body.subject = { _id: subject.id };
    else if (subject) body.subject = subject.id ? { _id: subject.id } : { label: subject.label };
    return this.createChild('session', 'addSession', body);
  }

  getPermissions(): Promise<ProjectPermission[]> {
    return this.client.getProjectPermissions(this.id);
  }

  getUserPermission(userId: string): Promise<ProjectPermission> {
    return this.client.getProjectUserPermission(this.id, userId);
  }

  addPermission(permission: { id: string; role_ids: string[] }): Promise<void> {
    return this.client.addProjectPermission(this.id, permission);
  }

  updatePermission(userId: string, roleIds: string[]): Promise<void> {
    return this.client.modifyProjectUserPermission(this.id, userId, roleIds);
  }

  deletePermission(userId: string): Promise<void> {
    return this.client.deleteProjectUserPermission(this.id, userId);
  }

  getRules(): Promise<Rule[]> {
    return this.client.getProjectRules(this.id);
  }

  addRule(rule: RuleInput): Promise<string> {
    return this.client.addProjectRule(this.id, rule);
  }
}

export class Subject extends ParentContainer {
  declare project: string;
  declare code: string;
  declare master_code?: string;
  declare firstname?: string;
  declare lastname?: string;
  declare sex?: 'male' | 'female' | 'other' | 'unknown' | null;
  /** seconds */
  declare age?: number | null;
  declare type?: 'human' | 'animal' | 'phantom' | null;
  declare cohort?: string | null;
  declare race?: string | null;
  declare ethnicity?: string | null;
  declare species?: string | null;
  declare strain?: string | null;
  declare date_of_birth?: string | null;

  get containerType(): 'subject' {
    return 'subject';
  }

  get sessions(): Finder<Session> {
    return this.finder('listSubjectSessions', 'session');
  }

  get acquisitions(): Finder<Acquisition> {
    return this.finder('listSubjectAcquisitions', 'acquisition');
  }

  addSession(fields: Json & { label: string }): Promise<Session> {
    return this.createChild('session', 'addSession', { ...fields, project: this.parents.project ?? this.project, subject: { _id: this.id } });
  }
}

export class Session extends ParentContainer {
  declare group: string;
  declare project: string;
  /** The session's subject (id and label; `reload()` it for the rest). */
  declare subject: Subject;
  declare uid?: string | null;
  declare timestamp?: string | null;
  declare timezone?: string | null;
  declare operator?: string | null;
  declare age?: number | null;
  declare weight?: number | null;

  get containerType(): 'session' {
    return 'session';
  }

  protected override convert(key: string, value: unknown): unknown {
    if (key === 'subject' && value && typeof value === 'object') return new Subject(this.client, { container_type: 'subject', ...(value as Json) });
    return super.convert(key, value);
  }

  get acquisitions(): Finder<Acquisition> {
    return this.finder('listSessionAcquisitions', 'acquisition');
  }

  addAcquisition(fields: Json & { label: string }): Promise<Acquisition> {
    return this.createChild('acquisition', 'addAcquisition', { ...fields, session: this.id });
  }
}

export class Acquisition extends ParentContainer {
  declare session: string;
  declare uid?: string | null;
  declare timestamp?: string | null;
  declare timezone?: string | null;

  get containerType(): 'acquisition' {
    return 'acquisition';
  }
}

export class Analysis extends Container {
  declare parent: ContainerRef;
  declare description?: string;
  /** Input files (their own container is each entry's `parent`). */
  declare inputs?: FileEntry[];
  /** The job's id (or the job document, where the API inflates it). */
  declare job?: string | Json;
  declare gear_info?: { id: string; category: string; name: string; version: string };
  declare user?: string;

  get containerType(): 'analysis' {
    return 'analysis';
  }

  protected override convert(key: string, value: unknown): unknown {
    if (key === 'inputs' && Array.isArray(value)) return value.map((f: Json) => new FileEntry(this.client, f));
    return super.convert(key, value);
  }

  /** Uploads a result file to the analysis. */
  uploadOutput(source: UploadSource, opts?: UploadOptions): Promise<FileEntry> {
    return this.uploadFile(source, opts);
  }
}

registerClass('group', Group);
registerClass('project', Project);
registerClass('subject', Subject);
registerClass('session', Session);
registerClass('acquisition', Acquisition);
registerClass('analysis', Analysis);
