import { CONTAINER_TYPES, PLURAL } from '@sprocket/types';

/**
 * Every API route the SDK calls, as data: the client builds each request from an entry here, and
 * the OpenAPI test enumerates the table to prove the server still serves each one with a body
 * schema accepting the fields the SDK sends.
 */
export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** Which server module serves a route (the table is grouped by it). */
export type RouteArea = 'core' | 'gears' | 'jobs' | 'batch' | 'rules';

export interface RouteDef {
  method: Method;
  /** Relative to `/api`; `{name}` placeholders are filled from request params. */
  path: string;
  /** The values `{cont}` takes, for routes shared by container types. */
  cont?: readonly string[];
  /** Top-level JSON body fields the SDK itself puts in the body (callers may add more where noted). */
  body?: readonly string[];
  /** The body is the caller's own object (e.g. `container.update({...})`), passed through as given. */
  passthrough?: boolean;
  /** Multipart form fields instead of a JSON body. */
  multipart?: readonly string[];
  /** Query parameters the SDK may send. */
  query?: readonly string[];
  /** Paged by finders with `limit` + `after_id`. */
  paged?: boolean;
  area: RouteArea;
}

export const LIST_QUERY = ['filter', 'sort', 'limit', 'skip', 'after_id'] as const;

/** Container types with info, tags, notes and files. */
export const ALL_CONTS: readonly string[] = CONTAINER_TYPES.map((t) => PLURAL[t]);
/** Container types analyses hang off. */
export const PARENT_CONTS: readonly string[] = CONTAINER_TYPES.filter((t) => t !== 'analysis').map((t) => PLURAL[t]);

const list = (path: string, area: RouteArea = 'core', cont?: readonly string[], extra: string[] = []): RouteDef => ({
  method: 'GET',
  path,
  cont,
  query: [...LIST_QUERY, ...extra],
  paged: true,
  area,
});

export const ROUTES = {
  // Site
  getConfig: { method: 'GET', path: '/config', area: 'core' },
  getVersion: { method: 'GET', path: '/version', area: 'core' },
  getAuthStatus: { method: 'GET', path: '/auth/status', area: 'core' },

  // Users
  getCurrentUser: { method: 'GET', path: '/users/self', area: 'core' },
  listUsers: list('/users'),
  getUser: { method: 'GET', path: '/users/{uid}', area: 'core' },
  addUser: { method: 'POST', path: '/users', passthrough: true, area: 'core' },
  modifyUser: { method: 'PUT', path: '/users/{uid}', passthrough: true, area: 'core' },
  deleteUser: { method: 'DELETE', path: '/users/{uid}', area: 'core' },
  // API keys (the secret is only in the answer that issues it)
  addCurrentUserKey: { method: 'POST', path: '/users/self/key', body: ['label'], area: 'core' },
  getCurrentUserKeys: { method: 'GET', path: '/users/self/keys', area: 'core' },
  deleteCurrentUserKey: { method: 'DELETE', path: '/users/self/keys/{kid}', area: 'core' },
  addUserKey: { method: 'POST', path: '/users/{uid}/key', body: ['label'], area: 'core' },
  getUserKeys: { method: 'GET', path: '/users/{uid}/keys', area: 'core' },
  deleteUserKey: { method: 'DELETE', path: '/users/{uid}/keys/{kid}', area: 'core' },

  // Groups and their permissions (legacy ro/rw/admin access)
  listGroups: list('/groups'),
  getGroup: { method: 'GET', path: '/groups/{id}', area: 'core' },
  addGroup: { method: 'POST', path: '/groups', body: ['_id', 'label'], passthrough: true, area: 'core' },
  modifyGroup: { method: 'PUT', path: '/groups/{id}', passthrough: true, area: 'core' },
  deleteGroup: { method: 'DELETE', path: '/groups/{id}', area: 'core' },
  addGroupTag: { method: 'POST', path: '/groups/{id}/tags', body: ['value'], area: 'core' },
  getGroupPermissions: { method: 'GET', path: '/groups/{id}/permissions', area: 'core' },
  addGroupPermission: { method: 'POST', path: '/groups/{id}/permissions', body: ['_id', 'access'], area: 'core' },
  getGroupUserPermission: { method: 'GET', path: '/groups/{id}/permissions/{uid}', area: 'core' },
  modifyGroupUserPermission: { method: 'PUT', path: '/groups/{id}/permissions/{uid}', body: ['access'], area: 'core' },
  deleteGroupUserPermission: { method: 'DELETE', path: '/groups/{id}/permissions/{uid}', area: 'core' },

  // Containers
  listContainers: list('/{cont}', 'core', ALL_CONTS),
  getContainer: { method: 'GET', path: '/{cont}/{id}', cont: ALL_CONTS, area: 'core' },
  getAnyContainer: { method: 'GET', path: '/containers/{id}', area: 'core' },
  addProject: { method: 'POST', path: '/projects', body: ['group', 'label'], passthrough: true, area: 'core' },
  addSubject: { method: 'POST', path: '/subjects', body: ['project'], passthrough: true, area: 'core' },
  addSession: { method: 'POST', path: '/sessions', body: ['project', 'subject'], passthrough: true, area: 'core' },
  addAcquisition: { method: 'POST', path: '/acquisitions', body: ['session'], passthrough: true, area: 'core' },
  modifyContainer: { method: 'PUT', path: '/{cont}/{id}', cont: ALL_CONTS, passthrough: true, area: 'core' },
  deleteContainer: { method: 'DELETE', path: '/{cont}/{id}', cont: ALL_CONTS, area: 'core' },
  modifyContainerInfo: { method: 'POST', path: '/{cont}/{id}/info', cont: ALL_CONTS, body: ['set', 'delete', 'replace'], area: 'core' },
  addContainerTag: { method: 'POST', path: '/{cont}/{id}/tags', cont: ALL_CONTS, body: ['value'], area: 'core' },
  deleteContainerTag: { method: 'DELETE', path: '/{cont}/{id}/tags/{value}', cont: ALL_CONTS, area: 'core' },
  addContainerNote: { method: 'POST', path: '/{cont}/{id}/notes', cont: ALL_CONTS, body: ['text'], area: 'core' },
  deleteContainerNote: { method: 'DELETE', path: '/{cont}/{id}/notes/{nid}', cont: ALL_CONTS, area: 'core' },

  // Child listings (what child finders iterate)
  listGroupProjects: list('/groups/{id}/projects'),
  listProjectSubjects: list('/projects/{id}/subjects'),
  listProjectSessions: list('/projects/{id}/sessions'),
  listProjectAcquisitions: list('/projects/{id}/acquisitions'),
  listSubjectSessions: list('/subjects/{id}/sessions'),
  listSubjectAcquisitions: list('/subjects/{id}/acquisitions'),
  listSessionAcquisitions: list('/sessions/{id}/acquisitions'),

  // Analyses
  listAnalyses: list('/{cont}/{id}/analyses', 'core', PARENT_CONTS),
  addAnalysis: {
    method: 'POST',
    path: '/{cont}/{id}/analyses',
    cont: PARENT_CONTS,
    body: ['label', 'description', 'inputs', 'info', 'tags', 'job'],
    area: 'core',
  },
  // The analyses of a container's children, or of everything at and below it (`all`)
  listAllAnalyses: list('/{cont}/{id}/all/analyses', 'core', PARENT_CONTS, ['inflate_job']),
  listProjectSubjectAnalyses: list('/projects/{id}/subjects/analyses', 'core', undefined, ['inflate_job']),
  listProjectSessionAnalyses: list('/projects/{id}/sessions/analyses', 'core', undefined, ['inflate_job']),
  listProjectAcquisitionAnalyses: list('/projects/{id}/acquisitions/analyses', 'core', undefined, ['inflate_job']),
  listSubjectSessionAnalyses: list('/subjects/{id}/sessions/analyses', 'core', undefined, ['inflate_job']),
  listSubjectAcquisitionAnalyses: list('/subjects/{id}/acquisitions/analyses', 'core', undefined, ['inflate_job']),
  listSessionAcquisitionAnalyses: list('/sessions/{id}/acquisitions/analyses', 'core', undefined, ['inflate_job']),

  // Files
  uploadFile: { method: 'POST', path: '/{cont}/{id}/files', cont: ALL_CONTS, multipart: ['file', 'metadata'], area: 'core' },
  downloadFile: {
    method: 'GET',
    path: '/{cont}/{id}/files/{name}',
    cont: ALL_CONTS,
    query: ['version', 'ticket', 'view', 'info', 'member'],
    area: 'core',
  },
  modifyFile: { method: 'PUT', path: '/{cont}/{id}/files/{name}', cont: ALL_CONTS, passthrough: true, area: 'core' },
  deleteFile: { method: 'DELETE', path: '/{cont}/{id}/files/{name}', cont: ALL_CONTS, area: 'core' },
  getFileInfo: { method: 'GET', path: '/{cont}/{id}/files/{name}/info', cont: ALL_CONTS, area: 'core' },
  getFileVersions: { method: 'GET', path: '/{cont}/{id}/files/{name}/versions', cont: ALL_CONTS, area: 'core' },
  modifyFileInfo: {
    method: 'POST',
    path: '/{cont}/{id}/files/{name}/info',
    cont: ALL_CONTS,
    body: ['set', 'delete', 'replace'],
    area: 'core',
  },
  modifyFileClassification: {
    method: 'POST',
    path: '/{cont}/{id}/files/{name}/classification',
    cont: ALL_CONTS,
    body: ['add', 'delete', 'replace', 'modality'],
    area: 'core',
  },

  // Paths
  lookup: { method: 'POST', path: '/lookup', body: ['path'], area: 'core' },
  resolve: { method: 'POST', path: '/resolve', body: ['path'], area: 'core' },

  // Collections
  listCollections: list('/collections'),
  getCollection: { method: 'GET', path: '/collections/{id}', area: 'core' },
  addCollection: { method: 'POST', path: '/collections', body: ['label', 'description', 'info', 'tags'], area: 'core' },
  modifyCollection: { method: 'PUT', path: '/collections/{id}', body: ['contents'], passthrough: true, area: 'core' },
  deleteCollection: { method: 'DELETE', path: '/collections/{id}', area: 'core' },
  listCollectionSessions: list('/collections/{id}/sessions'),
  listCollectionAcquisitions: list('/collections/{id}/acquisitions', 'core', undefined, ['session']),
  modifyCollectionInfo: { method: 'POST', path: '/collections/{id}/info', body: ['set', 'delete', 'replace'], area: 'core' },
  addCollectionTag: { method: 'POST', path: '/collections/{id}/tags', body: ['value'], area: 'core' },
  deleteCollectionTag: { method: 'DELETE', path: '/collections/{id}/tags/{value}', area: 'core' },
  addCollectionNote: { method: 'POST', path: '/collections/{id}/notes', body: ['text'], area: 'core' },
  deleteCollectionNote: { method: 'DELETE', path: '/collections/{id}/notes/{nid}', area: 'core' },
  getCollectionPermissions: { method: 'GET', path: '/collections/{id}/permissions', area: 'core' },
  addCollectionPermission: { method: 'POST', path: '/collections/{id}/permissions', body: ['_id', 'role_ids', 'access'], area: 'core' },
  modifyCollectionUserPermission: {
    method: 'PUT',
    path: '/collections/{id}/permissions/{uid}',
    body: ['role_ids', 'access'],
    area: 'core',
  },
  deleteCollectionUserPermission: { method: 'DELETE', path: '/collections/{id}/permissions/{uid}', area: 'core' },

  // Roles and project permissions
  getAllRoles: { method: 'GET', path: '/roles', area: 'core' },
  getRole: { method: 'GET', path: '/roles/{rid}', area: 'core' },
  addRole: { method: 'POST', path: '/roles', body: ['label', 'actions'], area: 'core' },
  modifyRole: { method: 'PUT', path: '/roles/{rid}', passthrough: true, area: 'core' },
  deleteRole: { method: 'DELETE', path: '/roles/{rid}', area: 'core' },
  getProjectPermissions: { method: 'GET', path: '/projects/{id}/permissions', area: 'core' },
  addProjectPermission: { method: 'POST', path: '/projects/{id}/permissions', body: ['_id', 'role_ids', 'access'], area: 'core' },
  getProjectUserPermission: { method: 'GET', path: '/projects/{id}/permissions/{uid}', area: 'core' },
  modifyProjectUserPermission: { method: 'PUT', path: '/projects/{id}/permissions/{uid}', body: ['role_ids', 'access'], area: 'core' },
  deleteProjectUserPermission: { method: 'DELETE', path: '/projects/{id}/permissions/{uid}', area: 'core' },

  // Gears
  listGears: list('/gears', 'gears', undefined, ['all_versions']),
  getGear: { method: 'GET', path: '/gears/{id}', area: 'gears' },
  addGear: { method: 'POST', path: '/gears', multipart: ['file', 'category', 'image'], area: 'gears' },
  deleteGear: { method: 'DELETE', path: '/gears/{id}', area: 'gears' },
  getGearInvocation: { method: 'GET', path: '/gears/{id}/invocation', area: 'gears' },

  // Jobs
  listJobs: list('/jobs', 'jobs', undefined, ['states', 'tags', 'include']),
  listContainerJobs: { method: 'GET', path: '/{cont}/{id}/jobs', cont: ALL_CONTS, query: [...LIST_QUERY, 'states', 'tags'], area: 'jobs' },
  getCurrentUserJobs: { method: 'GET', path: '/users/self/jobs', query: [...LIST_QUERY, 'states', 'tags', 'gear'], area: 'jobs' },
  addJob: {
    method: 'POST',
    path: '/jobs/add',
    body: ['gear_id', 'inputs', 'destination', 'config', 'tags', 'label', 'priority'],
    area: 'jobs',
  },
  getJob: { method: 'GET', path: '/jobs/{id}', area: 'jobs' },
  modifyJob: { method: 'PUT', path: '/jobs/{id}', body: ['state'], area: 'jobs' },
  getJobLogs: { method: 'GET', path: '/jobs/{id}/logs', area: 'jobs' },
  getJobDetail: { method: 'GET', path: '/jobs/{id}/detail', area: 'jobs' },
  retryJob: { method: 'POST', path: '/jobs/{id}/retry', query: ['ignoreState'], area: 'jobs' },

  // Batch
  proposeBatch: {
    method: 'POST',
    path: '/batch',
    body: ['gear_id', 'config', 'tags', 'priority', 'optional_input_policy', 'analysis', 'targets'],
    query: ['dry_run'],
    area: 'batch',
  },
  listBatches: { method: 'GET', path: '/batch', area: 'batch' },
  getBatch: { method: 'GET', path: '/batch/{id}', query: ['jobs'], area: 'batch' },
  startBatch: { method: 'POST', path: '/batch/{id}/run', area: 'batch' },
  cancelBatch: { method: 'POST', path: '/batch/{id}/cancel', area: 'batch' },
  retryFailedBatch: { method: 'POST', path: '/batch/{id}/retry-failed', passthrough: true, area: 'batch' },

  // Data views
  evaluateView: {
    method: 'POST',
    path: '/views/data',
    passthrough: true,
    query: ['containerId', 'format', 'filter', 'skip', 'limit'],
    area: 'core',
  },
  evaluateSavedView: { method: 'GET', path: '/views/{id}/data', query: ['containerId', 'format', 'filter', 'skip', 'limit'], area: 'core' },
  addView: { method: 'POST', path: '/containers/{id}/views', passthrough: true, area: 'core' },
  getViews: { method: 'GET', path: '/containers/{id}/views', area: 'core' },
  deleteView: { method: 'DELETE', path: '/views/{id}', area: 'core' },
  getView: { method: 'GET', path: '/views/{id}', area: 'core' },
  modifyView: { method: 'PUT', path: '/views/{id}', passthrough: true, area: 'core' },

  // Gear rules
  getProjectRules: { method: 'GET', path: '/projects/{id}/rules', area: 'rules' },
  addProjectRule: { method: 'POST', path: '/projects/{id}/rules', passthrough: true, area: 'rules' },
  getProjectRule: { method: 'GET', path: '/projects/{id}/rules/{rid}', area: 'rules' },
  modifyProjectRule: { method: 'PUT', path: '/projects/{id}/rules/{rid}', passthrough: true, area: 'rules' },
  deleteProjectRule: { method: 'DELETE', path: '/projects/{id}/rules/{rid}', area: 'rules' },
  applyProjectRule: { method: 'POST', path: '/projects/{id}/rules/{rid}/apply', body: ['dry_run'], area: 'rules' },
} as const satisfies Record<string, RouteDef>;

export type RouteName = keyof typeof ROUTES;

/** Fills `{name}` placeholders; every value is percent-encoded as one path segment. */
export function fillPath(template: string, params: Record<string, string | undefined>): string {
  return template.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const v = params[name];
    if (v === undefined || v === '') throw new Error(`route ${template}: missing path parameter '${name}'`);
    return encodeURIComponent(v);
  });
}
