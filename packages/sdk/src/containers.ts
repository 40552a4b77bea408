import { SdkError } from './errors.js';
import {
  type DownloadOptions,
  type DownloadToOptions,
  downloadTo,
  downloadUrl,
  downloadZipMemberTo,
  type FileLocation,
  fileParts,
  openDownload,
  readAll,
  readZipMember,
  type UploadSource,
  type ZipInfo,
  zipInfo,
} from './files.js';
import { Finder } from './finder.js';
import { Job, type JobListOptions, jobQuery } from './jobs.js';
import { type Json, Model, type ModelContext, withIds } from './model.js';
import * as perms from './permissions.js';
import { fetchContainer, makeObject, PLURAL } from './registry.js';
import type { RouteName } from './routes.js';
import type {
  Classification,
  ContainerRef,
  FileRef,
  GroupPermission,
  Note,
  Origin,
  Parents,
  ProjectPermission,
  Rule,
  RuleInput,
} from './types.js';

/**
 * The container classes of Flywheel's SDK and their files in one file on purpose (past 400 lines):
 * they are one hierarchy (Container → ParentContainer → Project … Analysis, and Group, and the
 * FileEntry every container holds and that knows its container) whose classes refer to each other;
 * split up, the modules would import each other in a ring. Objects of another type (a project's
 * sessions, a file's container) are built through the context's classes (`makeObject`), which the
 * client fills in.
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
    return new Finder<T>(this.client.transport, route, { id: this.id }, (d) => makeObject(this.client, type, d) as T, PLURAL[type]!);
  }

  protected async createChild<T>(type: string, route: RouteName, body: Json): Promise<T> {
    const { _id } = await this.client.transport.json<{ _id: string }>(route, { body });
    return fetchContainer<T>(this.client, type, _id);
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
    return new Finder<Analysis>(this.client.transport, 'listAnalyses', this.params, (d) => new Analysis(this.client, d), 'analyses');
  }

  /**
   * Flywheel's `get_analyses(cont, id, sub)`: the analyses hung off this container's `subjects`,
   * `sessions` or `acquisitions`, or `all` of them at and below it (the ones the caller may see).
   */
  analysesOf(children: 'subjects' | 'sessions' | 'acquisitions' | 'all'): Finder<Analysis> {
    const route = children === 'all' ? 'listAllAnalyses' : CHILD_ANALYSIS_ROUTES[`${this.containerType}/${children}`];
    if (!route) throw new SdkError(`a ${this.containerType} has no ${children}; use 'all' or a kind of container below it`);
    const params: Record<string, string> = children === 'all' ? this.params : { id: this.id };
    return new Finder<Analysis>(this.client.transport, route, params, (d) => new Analysis(this.client, d), 'analyses');
  }

  /** An analysis without a job (results uploaded by the caller); returns it. */
  async addAnalysis(spec: AnalysisInputSpec): Promise<Analysis> {
    const body: Json = { ...spec, ...(spec.inputs ? { inputs: spec.inputs.map(toRef) } : {}) };
    const { _id } = await this.client.transport.json<{ _id: string }>('addAnalysis', { params: this.params, body });
    return fetchContainer<Analysis>(this.client, 'analysis', _id);
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
    return new Finder<Project>(this.client.transport, 'listGroupProjects', { id: this.id }, (d) => new Project(this.client, d), 'projects');
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
    return fetchContainer<Project>(this.client, 'project', _id);
  }

  async addPermission(permission: { id: string; access: GroupPermission['access'] }): Promise<void> {
    await perms.addGroupPermission(this.client.transport, this.id, permission);
  }

  async updatePermission(userId: string, access: GroupPermission['access']): Promise<void> {
    await perms.modifyGroupUserPermission(this.client.transport, this.id, userId, access);
  }

  async deletePermission(userId: string): Promise<void> {
    await perms.deleteGroupUserPermission(this.client.transport, this.id, userId);
  }

  getUserPermission(userId: string): Promise<GroupPermission> {
    return perms.getGroupUserPermission(this.client.transport, this.id, userId);
  }

  async getPermissions(): Promise<GroupPermission[]> {
    return perms.getGroupPermissions(this.client.transport, this.id);
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
    return perms.getProjectPermissions(this.client.transport, this.id);
  }

  getUserPermission(userId: string): Promise<ProjectPermission> {
    return perms.getProjectUserPermission(this.client.transport, this.id, userId);
  }

  addPermission(permission: { id: string; role_ids: string[] }): Promise<void> {
    return perms.addProjectPermission(this.client.transport, this.id, permission);
  }

  updatePermission(userId: string, roleIds: string[]): Promise<void> {
    return perms.modifyProjectUserPermission(this.client.transport, this.id, userId, roleIds);
  }

  deletePermission(userId: string): Promise<void> {
    return perms.deleteProjectUserPermission(this.client.transport, this.id, userId);
  }

  getRules(): Promise<Rule[]> {
    return perms.getProjectRules(this.client.transport, this.id);
  }

  addRule(rule: RuleInput): Promise<string> {
    return perms.addProjectRule(this.client.transport, this.id, rule);
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
    return this.createChild('session', 'addSession', {
      ...fields,
      project: this.parents.project ?? this.project,
      subject: { _id: this.id },
    });
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
    if (key === 'subject' && value && typeof value === 'object')
      return new Subject(this.client, { container_type: 'subject', ...(value as Json) });
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

/** A file on a container (Flywheel's FileEntry). `id` is stable across versions of the file. */
export class FileEntry extends Model {
  declare file_id: string;
  declare version: number;
  declare name: string;
  declare type: string | null;
  declare mimetype: string;
  declare size: number;
  /** `v0-sha384-<hex>` */
  declare hash: string;
  declare modality: string | null;
  declare classification: Classification;
  declare tags: string[];
  /** Only on a single container GET (`reload()`); lists leave it out, as Flywheel's do. */
  declare info?: Json;
  declare info_exists: boolean;
  declare origin: Origin;
  declare parent_ref: ContainerRef;
  declare zip_member_count: number | null;
  declare from_failed_job?: boolean;
  declare created: string;
  declare modified: string;
  declare replaced: string | null;
  /** The container this file was listed on (for a looked-up file, a stub holding only its id). */
  declare readonly parent: Container;

  constructor(client: ModelContext, doc: Json, parent?: Container) {
    super(client, doc);
    const ref = this.parent_ref;
    const p = parent ?? makeObject<Container>(client, ref.type, { _id: ref.id, container_type: ref.type });
    Object.defineProperty(this, 'parent', { value: p, enumerable: false, writable: true });
  }

  private get location(): FileLocation {
    return { cont: PLURAL[this.parent.containerType]!, id: this.parent.id, name: this.name };
  }

  /** The reference job inputs and analyses take: `{type, id, name}` of the file's container. */
  ref(): FileRef {
    return { type: this.parent.containerType, id: this.parent.id, name: this.name };
  }

  /** Streams the file to disk (see `downloadTo`); returns the path written. */
  download(dest: string, opts?: DownloadToOptions): Promise<string> {
    return downloadTo(this.client, this.location, dest, opts);
  }

  /** The whole content in memory. */
  read(opts?: DownloadOptions): Promise<Buffer> {
    return readAll(this.client, this.location, opts);
  }

  /** The content as a Node stream (with the server's content hash as `etag`). */
  open(opts?: DownloadOptions) {
    return openDownload(this.client, this.location, opts);
  }

  /** A one-shot URL that needs no key. */
  getDownloadUrl(): Promise<string> {
    return downloadUrl(this.client, this.location);
  }

  /** The members of this zip file (Flywheel's `get_zip_info`); a file that is not a zip is an ApiError (400). */
  getZipInfo(opts?: DownloadOptions): Promise<ZipInfo> {
    return zipInfo(this.client, this.location, opts);
  }

  /** Streams one member of this zip file to `dest` (a path, or a directory to put it in); returns the path written. */
  downloadZipMember(member: string, dest: string, opts?: DownloadOptions): Promise<string> {
    return downloadZipMemberTo(this.client, this.location, member, dest, opts);
  }

  /** One member of this zip file in memory. */
  readZipMember(member: string, opts?: DownloadOptions): Promise<Buffer> {
    return readZipMember(this.client, this.location, member, opts);
  }

  /** Fetches the file's current document, info included. */
  async reload(): Promise<this> {
    const doc = await this.client.transport.json<Json>('getFileInfo', { params: this.location });
    this.assign(doc, true);
    return this;
  }

  /**
   * Every stored version of the file, oldest first, each with its `origin` (who or which job wrote
   * it; job origins carry the job's `gear_info` and who launched it).
   */
  async getVersions(): Promise<FileEntry[]> {
    const docs = await this.client.transport.json<Json[]>('getFileVersions', { params: this.location });
    return docs.map((d) => new FileEntry(this.client, d, this.parent));
  }

  /** Changes fields such as `type`, `modality`, `tags`. */
  async update(fields: {
    type?: string | null;
    modality?: string | null;
    tags?: string[];
    classification?: Classification;
    info?: Json;
  }): Promise<this> {
    await this.client.transport.json('modifyFile', { params: this.location, body: fields });
    Object.assign(this, fields);
    return this;
  }

  async updateInfo(set: Json): Promise<this> {
    await this.client.transport.json('modifyFileInfo', { params: this.location, body: { set } });
    if (this.info) this.info = { ...this.info, ...set };
    return this;
  }

  async replaceInfo(info: Json): Promise<this> {
    await this.client.transport.json('modifyFileInfo', { params: this.location, body: { replace: info } });
    this.info = info;
    return this;
  }

  async deleteInfo(...keys: (string | string[])[]): Promise<this> {
    const del = keys.flat();
    await this.client.transport.json('modifyFileInfo', { params: this.location, body: { delete: del } });
    if (this.info) for (const k of del) delete this.info[k];
    return this;
  }

  /** Adds values to classification aspects (`{Intent: ['Structural']}`). */
  async updateClassification(add: Classification): Promise<this> {
    await this.client.transport.json('modifyFileClassification', { params: this.location, body: { add } });
    for (const [k, vs] of Object.entries(add)) this.classification[k] = [...new Set([...(this.classification[k] ?? []), ...vs])];
    return this;
  }

  async replaceClassification(classification: Classification, opts: { modality?: string | null } = {}): Promise<this> {
    const body = { replace: classification, ...(opts.modality !== undefined ? { modality: opts.modality } : {}) };
    await this.client.transport.json('modifyFileClassification', { params: this.location, body });
    this.classification = classification;
    if (opts.modality !== undefined) this.modality = opts.modality;
    return this;
  }

  async deleteClassification(remove: Classification): Promise<this> {
    await this.client.transport.json('modifyFileClassification', { params: this.location, body: { delete: remove } });
    for (const [k, vs] of Object.entries(remove)) {
      const left = (this.classification[k] ?? []).filter((v) => !vs.includes(v));
      if (left.length) this.classification[k] = left;
      else delete this.classification[k];
    }
    return this;
  }

  async addTag(tag: string): Promise<this> {
    if (!this.tags.includes(tag)) await this.update({ tags: [...this.tags, tag] });
    return this;
  }

  /** Deletes the file and all its versions. */
  async delete(): Promise<void> {
    await this.client.transport.json('deleteFile', { params: this.location });
  }
}
