import type { SiteRole } from '@sprocket/types';
import { forbidden } from '../errors.js';

/** Who is making a request, as established from the API key. */
export interface Principal {
  userId: string;
  email: string;
  roles: SiteRole[];
  /**
   * Site admin powers. False for a job key even when its user is a site admin: a job key acts only
   * within its job's projects (see access.ts), where a site admin's key still holds every action.
   */
  isAdmin: boolean;
  keyId: string;
  /** Keys handed to gears may be read-only: they can look but never change anything. */
  readOnly: boolean;
  /** Set when the key belongs to a running job. */
  jobId: string | null;
  /**
   * 'engine' for a device key: `userId` is then the device id. Engines may call the engine routes
   * and read what their jobs need, nothing else (see engine-access.ts). Absent means a user.
   */
  kind?: 'user' | 'engine';
}

/** A request as the route guards judge it: which route, with what, by whom. */
export interface RouteCall {
  method: string;
  /** The route's pattern (`/api/jobs/:id`); undefined when no route matched. */
  url: string | undefined;
  /** Routes marked `config: {engine: true}`, which check the engine's claim on the job themselves. */
  engineRoute: boolean;
  params: unknown;
  query: unknown;
  principal: Principal;
}

export function isEngine(p: Principal | undefined): boolean {
  return p?.kind === 'engine';
}

const SITE_ADMIN_REQUIRED = 'site_admin role required';

/**
 * Site-admin-only operations. A read needs the role; a change also needs a key that may write
 * (a read-only key of a site admin still only looks).
 */
export function requireSiteAdmin(p: Principal, use: 'read' | 'write' = 'write'): Principal {
  if (!p.isAdmin || (use === 'write' && p.readOnly)) throw forbidden(SITE_ADMIN_REQUIRED);
  return p;
}

/** Changes of any kind: keys handed out read-only only look. */
export function requireWritableKey(p: Principal, what: string): Principal {
  if (p.readOnly) throw forbidden(`read-only keys cannot ${what}`);
  return p;
}

/** Operations open to site admins and to one more site role (developers upload gears and create groups). */
export function requireSiteRole(p: Principal, role: SiteRole, what: string): Principal {
  if (p.readOnly || !(p.isAdmin || p.roles.includes(role))) throw forbidden(`${what} needs the ${role} or site_admin role`);
  return p;
}

/** Things a user owns (a batch they proposed): the owner and site admins see them, no one else. */
export function ownsOrAdmin(p: Principal, ownerId: string | null | undefined): boolean {
  return p.isAdmin || (ownerId != null && ownerId === p.userId);
}

/** Whose things (batches) a listing holds: everyone's for site admins (undefined), the caller's own for others. */
export function ownerScope(p: Principal): string | undefined {
  return p.isAdmin ? undefined : p.userId;
}

/** Whose whole user document a principal reads: site admins anyone's, others their own (collaborators get names only). */
export function seesWholeUser(p: Principal, uid: string): boolean {
  return p.isAdmin || uid === p.userId;
}

/**
 * Whether a principal may make this change to a user: a site admin with a key that may write any
 * change (a site admin's read-only job key edits nothing); a user with a writable key their own
 * document, except their roles, disabled flag and id.
 */
export function mayChangeUser(p: Principal, uid: string, change: { roles?: unknown; disabled?: unknown; _id?: unknown }): boolean {
  if (p.isAdmin && !p.readOnly) return true;
  const self = uid === p.userId && !p.readOnly;
  return self && change.roles === undefined && change.disabled === undefined && change._id === undefined;
}
