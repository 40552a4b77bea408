import type { SiteRole } from '@sprocket/types';

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
   * and read what their jobs need, nothing else (see jobs/engine-access.ts). Absent means a user.
   */
  kind?: 'user' | 'engine';
}

export function isEngine(p: Principal | undefined): boolean {
  return p?.kind === 'engine';
}
