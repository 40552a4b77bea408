import type { JobPriority } from '@sprocket/types';
import { Collection, type CollectionInput } from './collections.js';
import { Acquisition, Analysis, type Container, FileEntry, Group, Project, Session, Subject } from './containers.js';
import { SdkError } from './errors.js';
import { fileParts, type UploadSource } from './files.js';
import { Finder } from './finder.js';
import { Batch, Gear } from './gears.js';
import { HttpTransport } from './http-transport.js';
import { Job, type JobListing, type JobListOptions, jobLogs, jobQuery, retryJob, type WaitOptions, waitForJobs } from './jobs.js';
import { parseApiKey, readStoredKey } from './key.js';
import { type Json, type Model, type ModelClass, type ModelContext, withIds } from './model.js';
import * as perms from './permissions.js';
import { fetchContainer, makeObject, PLURAL } from './registry.js';
import type { RouteName } from './routes.js';
import type { Transport, TransportOptions } from './transport.js';
import type {
  AuthStatus,
  GroupPermission,
  JobLog,
  ProjectPermission,
  Role,
  Rule,
  RuleApplyResult,
  RuleInput,
  SiteConfig,
  VersionInfo,
} from './types.js';
import { type ApiKey, type IssuedApiKey, User } from './users.js';
import type { DataViewSpec, ViewFormat, ViewOptions, ViewRow } from './views.js';

export interface ClientOptions extends TransportOptions {
  /** Environment to find the stored key in (defaults to process.env). */
  env?: NodeJS.ProcessEnv;
  /** Send requests through this transport instead of one over `fetch` built from the key. */
  transport?: Transport;
}

/** The class of each container type, for objects built from documents that say their type. */
const CLASSES: ReadonlyMap<string, ModelClass> = new Map<string, ModelClass>([
  ['group', Group],
  ['project', Project],
  ['subject', Subject],
  ['session', Session],
  ['acquisition', Acquisition],
  ['analysis', Analysis],
  ['collection', Collection],
]);

/** Anything `fw.lookup` can return. */
export type LookupResult = Group | Project | Subject | Session | Acquisition | Analysis | FileEntry | Gear | Collection;

export interface ResolveResult {
  /** One object per path element. */
  path: LookupResult[];
  /** What is directly under the last element (containers and files). */
  children: LookupResult[];
}

const typeOfDoc = (doc: Json): string | undefined => {
  const t = (doc.container_type ?? doc.node_type) as string | undefined;
  if (t) return t;
  if (doc.gear && typeof doc.gear === 'object' && 'category' in doc) return 'gear';
  return undefined;
};

/**
 * The entry point, as `flywheel.Client`: `new Client(apiKey)` where the key carries the server's
 * address; without a key, the one `sprocket login` stored.
 */
export class Client implements ModelContext {
  readonly transport: Transport;
  readonly baseUrl: string;
  readonly classes = CLASSES;

  readonly users: Finder<User>;
  readonly groups: Finder<Group>;
  readonly projects: Finder<Project>;
  readonly subjects: Finder<Subject>;
  readonly sessions: Finder<Session>;
  readonly acquisitions: Finder<Acquisition>;
  readonly analyses: Finder<Analysis>;
  readonly jobs: Finder<Job>;
  readonly gears: Finder<Gear>;
  readonly collections: Finder<Collection>;

  constructor(apiKey?: string, opts: ClientOptions = {}) {
    const key = apiKey ?? readStoredKey(opts.env);
    if (!key) throw new SdkError("no API key given and none stored: pass one, or run 'sprocket login <key>' first");
    const parsed = parseApiKey(key);
    this.baseUrl = parsed.baseUrl;
    this.transport = opts.transport ?? new HttpTransport(parsed.baseUrl, parsed.secret, opts);
    this.users = new Finder(this.transport, 'listUsers', {}, (d) => new User(this, d), 'users');
    this.groups = new Finder(this.transport, 'listGroups', {}, (d) => new Group(this, d), 'groups');
    const containers = <T>(type: string) =>
      new Finder<T>(this.transport, 'listContainers', { cont: PLURAL[type]! }, (d) => makeObject(this, type, d) as T, PLURAL[type]!);
    this.projects = containers('project');
    this.subjects = containers('subject');
    this.sessions = containers('session');
    this.acquisitions = containers('acquisition');
    this.analyses = containers('analysis');
    this.jobs = new Finder(this.transport, 'listJobs', {}, (d) => new Job(this, d), 'jobs');
    this.gears = new Finder(this.transport, 'listGears', {}, (d) => new Gear(this, d), 'gears');
    this.collections = new Finder(this.transport, 'listCollections', {}, (d) => new Collection(this, d), 'collections');
  }

  private json<T>(route: RouteName, opts?: Parameters<Transport['json']>[1]): Promise<T> {
    return this.transport.json<T>(route, opts);
  }

  // --- Site and identity -------------------------------------------------------------------

  async getCurrentUser(): Promise<User> {
    return new User(this, await this.json<Json>('getCurrentUser'));
  }

  getConfig(): Promise<SiteConfig> {
    return this.json<SiteConfig>('getConfig');
  }

  async getVersion(): Promise<VersionInfo> {
    const { _id, ...rest } = await this.json<Json>('getVersion');
    return { id: _id, ...rest } as VersionInfo;
  }

  getAuthStatus(): Promise<AuthStatus> {
    return this.json<AuthStatus>('getAuthStatus');
  }

  // --- Getting objects by id ---------------------------------------------------------------

  /** Any container by id, as its own class. */
  async get(id: string): Promise<Container> {
    const doc = await this.json<Json>('getAnyContainer', { params: { id } });
    return makeObject<Container>(this, String(doc.container_type), doc);
  }

  /** A container of a known type by id. */
  getContainer<T = Container>(type: string, id: string): Promise<T> {
    return fetchContainer<T>(this, type, id);
  }

  async getGroup(id: string): Promise<Group> {
    return new Group(this, await this.json<Json>('getGroup', { params: { id } }));
  }

  async getCollection(id: string): Promise<Collection> {
    return new Collection(this, await this.json<Json>('getCollection', { params: { id } }));
  }

  /** Creates a collection (the caller becomes its curator) and returns it. */
  async addCollection(fields: CollectionInput): Promise<Collection> {
    const { _id } = await this.json<{ _id: string }>('addCollection', { body: { ...fields } });
    return this.getCollection(_id);
  }

  getProject = (id: string) => this.getContainer<Project>('project', id);
  getSubject = (id: string) => this.getContainer<Subject>('subject', id);
  getSession = (id: string) => this.getContainer<Session>('session', id);
  getAcquisition = (id: string) => this.getContainer<Acquisition>('acquisition', id);
  getAnalysis = (id: string) => this.getContainer<Analysis>('analysis', id);

  async getUser(id: string): Promise<User> {
    return new User(this, await this.json<Json>('getUser', { params: { uid: id } }));
  }

  // --- Creating ----------------------------------------------------------------------------

  /** Creates a group (`{id, label}`) and returns it. */
  async addGroup(fields: { id: string; label?: string; tags?: string[] }): Promise<Group> {
    const { id, ...rest } = fields;
    await this.json('addGroup', { body: { _id: id, ...rest } });
    return this.getGroup(id);
  }

  /** Creates a user (site admins) and returns it. */
  async addUser(fields: { id: string; email?: string; firstname?: string; lastname?: string; roles?: string[] }): Promise<User> {
    const { id, ...rest } = fields;
    await this.json('addUser', { body: { _id: id, ...rest } });
    return this.getUser(id);
  }

  // --- API keys ----------------------------------------------------------------------------

  /** Issues a key for yourself, or (site admins) for `userId`; the answer holds the secret, once. */
  async addApiKey(opts: { userId?: string; label?: string } = {}): Promise<IssuedApiKey> {
    const body = opts.label !== undefined ? { label: opts.label } : {};
    const res = opts.userId
      ? await this.json<Json>('addUserKey', { params: { uid: opts.userId }, body })
      : await this.json<Json>('addCurrentUserKey', { body });
    return { id: String(res.id ?? res._id), key: String(res.key) };
  }

  /** Your keys, or (site admins) `userId`'s, revoked ones included; never the secrets. */
  async getApiKeys(userId?: string): Promise<ApiKey[]> {
    const list = userId
      ? await this.json<Json[]>('getUserKeys', { params: { uid: userId } })
      : await this.json<Json[]>('getCurrentUserKeys');
    return withIds<ApiKey>(list);
  }

  /** Revokes one of your keys, or (site admins) one of `userId`'s. */
  async revokeApiKey(keyId: string, userId?: string): Promise<void> {
    if (userId) await this.json('deleteUserKey', { params: { uid: userId, kid: keyId } });
    else await this.json('deleteCurrentUserKey', { params: { kid: keyId } });
  }

  // --- Paths -------------------------------------------------------------------------------

  /** Turns a lookup/resolve document into the SDK object it describes. */
  objectFrom(doc: Json): LookupResult {
    const type = typeOfDoc(doc);
    if (type === 'file') return new FileEntry(this, doc);
    if (type === 'gear') return new Gear(this, doc);
    if (type && (PLURAL[type] || type === 'group' || type === 'collection')) return makeObject(this, type, doc) as LookupResult;
    throw new SdkError(`cannot tell what kind of object ${JSON.stringify(doc).slice(0, 120)} is`);
  }

  /**
   * The object a path names: `group`, `group/project[/subject]/session/acquisition`, then
   * `files/<name>` or `analyses/<label>`; `gears/<name>[/<version>]` for gears.
   */
  async lookup<T extends LookupResult = LookupResult>(path: string | string[]): Promise<T> {
    const parts = typeof path === 'string' ? path.split('/').filter((s) => s !== '') : path;
    return this.objectFrom(await this.json<Json>('lookup', { body: { path: parts } })) as T;
  }

  /** Every object along a path, and the children of the last. */
  async resolve(path: string | string[]): Promise<ResolveResult> {
    const parts = typeof path === 'string' ? path.split('/').filter((s) => s !== '') : path;
    const res = await this.json<{ path: Json[]; children: Json[] }>('resolve', { body: { path: parts } });
    return { path: res.path.map((d) => this.objectFrom(d)), children: res.children.map((d) => this.objectFrom(d)) };
  }

  // --- Permissions and roles ---------------------------------------------------------------

  async getGroupPermissions(groupId: string): Promise<GroupPermission[]> {
    return perms.getGroupPermissions(this.transport, groupId);
  }

  async getGroupUserPermission(groupId: string, userId: string): Promise<GroupPermission> {
    return perms.getGroupUserPermission(this.transport, groupId, userId);
  }

  async addGroupPermission(groupId: string, permission: { id: string; access: GroupPermission['access'] }): Promise<void> {
    return perms.addGroupPermission(this.transport, groupId, permission);
  }

  async modifyGroupUserPermission(groupId: string, userId: string, access: GroupPermission['access']): Promise<void> {
    return perms.modifyGroupUserPermission(this.transport, groupId, userId, access);
  }

  async deleteGroupUserPermission(groupId: string, userId: string): Promise<void> {
    return perms.deleteGroupUserPermission(this.transport, groupId, userId);
  }

  async getProjectPermissions(projectId: string): Promise<ProjectPermission[]> {
    return perms.getProjectPermissions(this.transport, projectId);
  }

  async getProjectUserPermission(projectId: string, userId: string): Promise<ProjectPermission> {
    return perms.getProjectUserPermission(this.transport, projectId, userId);
  }

  /** Gives a user roles on a project. */
  async addProjectPermission(projectId: string, permission: { id: string; role_ids: string[] }): Promise<void> {
    return perms.addProjectPermission(this.transport, projectId, permission);
  }

  async modifyProjectUserPermission(projectId: string, userId: string, roleIds: string[]): Promise<void> {
    return perms.modifyProjectUserPermission(this.transport, projectId, userId, roleIds);
  }

  async deleteProjectUserPermission(projectId: string, userId: string): Promise<void> {
    return perms.deleteProjectUserPermission(this.transport, projectId, userId);
  }

  async getRole(roleId: string): Promise<Role> {
    return withIds<Role>([await this.json<Json>('getRole', { params: { rid: roleId } })])[0]!;
  }

  async getAllRoles(): Promise<Role[]> {
    return withIds<Role>(await this.json<Json[]>('getAllRoles'));
  }

  /** Creates a site-wide role (site admins); returns its id. */
  async addRole(role: { label: string; actions: string[] }): Promise<string> {
    const { _id } = await this.json<{ _id: string }>('addRole', { body: { label: role.label, actions: role.actions } });
    return _id;
  }

  async modifyRole(roleId: string, fields: { label?: string; actions?: string[] }): Promise<void> {
    await this.json('modifyRole', { params: { rid: roleId }, body: fields });
  }

  async deleteRole(roleId: string): Promise<void> {
    await this.json('deleteRole', { params: { rid: roleId } });
  }

  // --- Gears -------------------------------------------------------------------------------

  async getGear(id: string): Promise<Gear> {
    return new Gear(this, await this.json<Json>('getGear', { params: { id } }));
  }

  /**
   * Uploads a gear packed as a tar.gz (its directory with manifest.json at the top); returns it.
   * `category` applies when the manifest's `custom.gear-builder.category` does not say. `image`:
   * the container image the manifest names, as a `podman save` / `docker save` archive (Sprocket),
   * for engines on sites without a registry.
   */
  async addGear(archive: UploadSource, opts: { category?: string; image?: UploadSource } = {}): Promise<Gear> {
    const parts = await fileParts([archive]);
    if (opts.image) parts.push(...(await fileParts([opts.image])).map((p) => ({ ...p, name: 'image' })));
    if (opts.category) parts.unshift({ name: 'category', value: opts.category });
    return new Gear(this, await this.transport.upload<Json>('addGear', {}, parts));
  }

  // --- Jobs --------------------------------------------------------------------------------

  async getJob(id: string): Promise<Job> {
    return new Job(this, await this.json<Json>('getJob', { params: { id } }));
  }

  /** Queues a job from raw fields (prefer `gear.run`, which fills config defaults). */
  async addJob(job: {
    gear_id: string;
    inputs?: Json;
    destination?: { type: string; id: string };
    config?: Json;
    tags?: string[];
    label?: string;
    priority?: JobPriority;
  }): Promise<string> {
    const res = await this.json<{ _id?: string; id?: string }>('addJob', { body: job });
    return String(res._id ?? res.id);
  }

  getJobLogs(id: string): Promise<JobLog> {
    return jobLogs(this.transport, id);
  }

  async cancelJob(id: string): Promise<void> {
    await this.json('modifyJob', { params: { id }, body: { state: 'cancelled' } });
  }

  /** Queues a new attempt of a failed job (`ignoreState`: also of a complete or cancelled one); returns its id. */
  retryJob(id: string, opts: { ignoreState?: boolean } = {}): Promise<string> {
    return retryJob(this.transport, id, opts);
  }

  /** Jobs you launched (newest first), with counts by state and the labels and paths of their containers. */
  async getCurrentUserJobs(
    opts: JobListOptions & { gear?: string } = {},
  ): Promise<{ stats: Record<string, number>; total: number; jobs: Job[]; containers: JobListing['containers'] }> {
    const res = await this.json<{ stats: Record<string, number>; total: number; jobs: Json[]; containers?: JobListing['containers'] }>(
      'getCurrentUserJobs',
      { query: jobQuery(opts) },
    );
    return { ...res, jobs: res.jobs.map((j) => new Job(this, j)), containers: res.containers ?? {} };
  }

  /**
   * Every job on a container and anything below it that you may see, whoever launched it (gear rules
   * and batches included), with the labels and paths of their containers (`GET /{cont}/{id}/jobs`).
   */
  async getContainerJobs(container: { type: string; id: string }, opts: JobListOptions = {}): Promise<JobListing> {
    const cont = PLURAL[container.type];
    if (!cont) throw new SdkError(`getContainerJobs: ${container.type} containers have no job list (use a project or something below it)`);
    const res = await this.json<{ jobs: Json[]; containers?: JobListing['containers']; total?: number }>('listContainerJobs', {
      params: { cont, id: container.id },
      query: jobQuery(opts),
    });
    return {
      jobs: res.jobs.map((j) => new Job(this, j)),
      containers: res.containers ?? {},
      ...(res.total !== undefined ? { total: res.total } : {}),
    };
  }

  /** Jobs you may see (everything for site admins), with labels and paths (`GET /jobs?include=containers`). */
  async getJobListing(opts: JobListOptions = {}): Promise<JobListing> {
    const res = await this.json<{ jobs: Json[]; containers?: JobListing['containers'] }>('listJobs', {
      query: { ...jobQuery(opts), include: 'containers' },
    });
    return { jobs: res.jobs.map((j) => new Job(this, j)), containers: res.containers ?? {} };
  }

  /** Polls until every job is complete, failed or cancelled; resolves with the final jobs. */
  waitForJobs(ids: (string | Job)[], opts?: WaitOptions): Promise<Job[]> {
    return waitForJobs(this, ids, opts);
  }

  // --- Batches -----------------------------------------------------------------------------

  async getBatch(id: string): Promise<Batch> {
    return new Batch(this, await this.json<Json>('getBatch', { params: { id } }));
  }

  async getAllBatches(): Promise<Batch[]> {
    return (await this.json<Json[]>('listBatches')).map((d) => new Batch(this, d));
  }

  // --- Gear rules --------------------------------------------------------------------------

  async getProjectRules(projectId: string): Promise<Rule[]> {
    return perms.getProjectRules(this.transport, projectId);
  }

  async getProjectRule(projectId: string, ruleId: string): Promise<Rule> {
    return withIds<Rule>([await this.json<Json>('getProjectRule', { params: { id: projectId, rid: ruleId } })])[0]!;
  }

  /** Adds a gear rule; returns its id. */
  async addProjectRule(projectId: string, rule: RuleInput): Promise<string> {
    return perms.addProjectRule(this.transport, projectId, rule);
  }

  /** Changes a rule, e.g. `{disabled: true}`. */
  async modifyProjectRule(projectId: string, ruleId: string, fields: Partial<RuleInput>): Promise<void> {
    await this.json('modifyProjectRule', { params: { id: projectId, rid: ruleId }, body: fields });
  }

  async deleteProjectRule(projectId: string, ruleId: string): Promise<void> {
    await this.json('deleteProjectRule', { params: { id: projectId, rid: ruleId } });
  }

  /**
   * Runs a rule over the files already in the project (Sprocket extension); files it already ran
   * on are skipped. With `dryRun`, only reports what it would launch.
   */
  applyProjectRule(projectId: string, ruleId: string, opts: { dryRun?: boolean } = {}): Promise<RuleApplyResult> {
    return this.json<RuleApplyResult>('applyProjectRule', {
      params: { id: projectId, rid: ruleId },
      body: { dry_run: opts.dryRun === true },
    });
  }

  // --- Data views ----------------------------------------------------------------------------

  /** Runs a view (ad hoc, or saved by id) over a container and returns its rows. */
  async readView(view: DataViewSpec | string, containerId: string, opts: ViewOptions = {}): Promise<ViewRow[]> {
    const res = await this.readViewData(view, containerId, 'json', opts);
    return ((await res.json()) as { data: ViewRow[] }).data;
  }

  /** The raw answer of a view in any format, for streaming CSV or TSV straight to a file. */
  readViewData(view: DataViewSpec | string, containerId: string, format: ViewFormat = 'csv', opts: ViewOptions = {}): Promise<Response> {
    const query = { containerId, format, filter: opts.filter, skip: opts.skip, limit: opts.limit };
    return typeof view === 'string'
      ? this.transport.send('evaluateSavedView', { params: { id: view }, query })
      : this.transport.send('evaluateView', { query, body: view });
  }

  /** Saves a view on a project, on a user (their id) or on the site ('site'); returns its id. */
  async addView(parentId: string, view: DataViewSpec): Promise<string> {
    return (await this.json<{ _id: string }>('addView', { params: { id: parentId }, body: view }))._id;
  }

  getViews(parentId: string): Promise<(DataViewSpec & { _id: string })[]> {
    return this.json('getViews', { params: { id: parentId } });
  }

  async deleteView(viewId: string): Promise<void> {
    await this.json('deleteView', { params: { id: viewId } });
  }

  getView(viewId: string): Promise<DataViewSpec & { _id: string; parent: string }> {
    return this.json('getView', { params: { id: viewId } });
  }

  /** Changes only the fields given (Flywheel's modify_view); a field set to null is removed. */
  async modifyView(viewId: string, fields: Partial<{ [K in keyof DataViewSpec]: DataViewSpec[K] | null }>): Promise<void> {
    await this.json('modifyView', { params: { id: viewId }, body: fields });
  }
}

export type { Model };
