import { CONTAINER_TYPES, PLURAL } from '@sprocket/types';
import { forbidden } from '../errors.js';
import type { RouteCall } from './principal.js';

/**
 * What a job key (the api-key input a gear receives) may call. It acts as the user who launched the
 * job, but only on data: containers, files, info, tags, notes, analyses (access.ts confines those
 * to the job's own projects), lookups and downloads of them, and launching or reading jobs there.
 * Never the user's account (keys, profile), other users, permissions, roles, gears beyond reading
 * them, gear rules, devices, batches or site settings. The list names what is allowed, so a route
 * added later stays closed to job keys until someone decides otherwise.
 */

const CONTAINERS = new RegExp(`^/api/(?:${CONTAINER_TYPES.map((t) => PLURAL[t]).join('|')})(?:/|$)`);
/** Under a container, but about who may do what there: not data. */
const CONTAINER_POLICY = /^\/api\/[a-z]+\/:id\/(?:permissions|rules)(?:\/|$)/;

const ALLOWED = new Set([
  'GET /api/version',
  'GET /api/config',
  'GET /api/auth/status',
  'GET /api/openapi.json',
  // The job's own user, so a gear can say who it acts for; never their keys or profile changes.
  'GET /api/users/self',
  'GET /api/groups',
  'GET /api/groups/:id',
  'GET /api/groups/:id/projects',
  'GET /api/containers/:id',
  'POST /api/lookup',
  'POST /api/resolve',
  'POST /api/download',
  'GET /api/download',
  'GET /api/views/columns',
  'POST /api/views/data',
  'GET /api/views/:vid/data',
  'GET /api/containers/:cid/views',
  // Reading gears lets a gear launch another (job chaining); uploading or removing them does not.
  'GET /api/gears',
  'GET /api/gears/:id',
  'GET /api/gears/:id/invocation',
  'GET /api/gears/:id/suggest/:cont/:cid',
  'POST /api/jobs/add',
  'GET /api/jobs/:id',
  'GET /api/jobs/:id/detail',
  'GET /api/jobs/:id/logs',
  'GET /api/jobs/:id/logs/text',
]);

export function jobKeyMayCall(method: string, url: string): boolean {
  const m = method === 'HEAD' ? 'GET' : method;
  if (CONTAINERS.test(url)) return !CONTAINER_POLICY.test(url);
  return ALLOWED.has(`${m} ${url}`);
}

export function assertJobKeyMayCall(call: RouteCall): void {
  const url = call.url;
  // No route matched: the 404 handler answers, nothing to guard.
  if (url === undefined) return;
  if (jobKeyMayCall(call.method, url)) return;
  throw forbidden(
    `job keys (the api-key input of job ${call.principal.jobId}) may only read and change data the job works on; ${call.method} ${url} is not allowed`,
  );
}
