import type { FastifyRequest } from 'fastify';
import { AccessContext } from './auth/access.js';
import { requirePrincipal } from './auth/authenticate.js';
import type { ServerConfig } from './config.js';
import type { DatabaseHandle } from './db/dialect.js';
import type { ContainersTable, FilesTable, JobsTable } from './db/schema.js';
import type { FileStore } from './files/store.js';

/** Called after files land on a container (gear rules hook in here). */
export type FilesCommittedListener = (container: ContainersTable, written: FilesTable[], replaced: FilesTable[]) => Promise<void>;

/** Resolves lookup paths under a prefix another module owns (the jobs module: `gears/<name>[/<version>]`). */
export type PathPrefixResolver = (req: FastifyRequest, rest: string[]) => Promise<Record<string, unknown> | undefined>;

/** What happened to a job: batch state and gear rules follow these. */
export type JobEvent =
  | { type: 'enqueued'; job: JobsTable }
  | { type: 'state'; job: JobsTable; from: string }
  | { type: 'retried'; job: JobsTable; previous: JobsTable };
/** Told after the change has committed; a listener's failure never undoes it. */
export type JobEventListener = (event: JobEvent) => Promise<void>;

/** Extension points later modules (jobs, rules) plug into without the core importing them. */
export interface ServerHooks {
  filesCommitted: FilesCommittedListener[];
  jobEvents: JobEventListener[];
  pathPrefixes: Map<string, PathPrefixResolver>;
}

/** What every route needs, handed to route modules explicitly instead of through globals. */
export interface ServerContext {
  handle: DatabaseHandle;
  store: FileStore;
  config: ServerConfig;
  hooks: ServerHooks;
}

declare module 'fastify' {
  interface FastifyRequest {
    accessCache?: AccessContext;
  }
}

/** The permission context of an authenticated request (401 without a key). */
export function accessOf(ctx: ServerContext, req: FastifyRequest): AccessContext {
  if (!req.accessCache) req.accessCache = new AccessContext(ctx.handle, requirePrincipal(req));
  return req.accessCache;
}
