import type { FastifyRequest } from 'fastify';
import { AccessContext } from './auth/access.js';
import { requirePrincipal } from './auth/authenticate.js';
import type { SignInThrottle } from './auth/sign-in-throttle.js';
import type { ServerConfig } from './config.js';
import type { DatabaseHandle } from './db/dialect.js';
import type { DicomImporter } from './dicom/importer.js';
import type { ServerEvents } from './events.js';
import type { FileStore } from './files/store.js';
import type { GearCache } from './jobs/gears.js';
import type { JobNotifier } from './jobs/notifier.js';

/** Resolves lookup paths under a prefix another module owns (the jobs module: `gears/<name>[/<version>]`). */
export type PathPrefixResolver = (req: FastifyRequest, rest: string[]) => Promise<Record<string, unknown> | undefined>;

/** Extension points later modules (jobs, rules) plug into without the core importing them. */
export interface ServerHooks {
  pathPrefixes: Map<string, PathPrefixResolver>;
}

/** What every route needs, handed to route modules explicitly instead of through globals. */
export interface ServerContext {
  handle: DatabaseHandle;
  store: FileStore;
  config: ServerConfig;
  hooks: ServerHooks;
  /** Files committed, job changes: gear rules and DICOM import listen here. */
  events: ServerEvents;
  /** Parsed gear manifests, checked against the database at each use (jobs/gears.ts). */
  gears: GearCache;
  /** Wakes engines waiting in `POST /jobs/ask` when work is queued. */
  notifier: JobNotifier;
  /** Failed browser sign-ins per address and account (auth/sign-in-throttle.ts). */
  signIns: SignInThrottle;
  /** DICOM header extraction, once installed (tests and benchmarks await it). */
  dicom?: DicomImporter;
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
