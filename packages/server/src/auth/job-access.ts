import type { GearManifest } from '@sprocket/types';
import type { DatabaseHandle } from '../db/dialect.js';
import type { JobsTable } from '../db/schema.js';
import { forbidden } from '../errors.js';
import type { AccessContext } from './access.js';
import { isEngine, requireWritableKey } from './principal.js';

/**
 * Who may see and steer a job. A job is not a container: its permissions are those of the
 * container it writes to, plus the user who launched it (never through a job key, which reaches
 * jobs through its job's projects only) and, while it runs, the engine that claimed it.
 */

type JobRef = Pick<JobsTable, 'id' | 'origin_id' | 'destination_id' | 'device_id' | 'state'>;

async function destinationOf(handle: DatabaseHandle, job: JobRef) {
  return handle.db.selectFrom('containers').select(['id', 'type', 'project_id', 'group_id']).where('id', '=', job.destination_id).executeTakeFirst();
}

/** May this principal see the job? Admins, the launcher, its engine, and users with jobs_view where it writes. */
export async function canSeeJob(handle: DatabaseHandle, access: AccessContext, job: JobRef): Promise<boolean> {
  const p = access.principal;
  if (isEngine(p)) return job.device_id === p.userId && job.state === 'running';
  if (p.isAdmin || (job.origin_id === p.userId && !p.jobId)) return true;
  const dest = await destinationOf(handle, job);
  return dest ? access.can(dest, 'jobs_view') : false;
}

/** The action on the destination that lets a user other than the launcher steer a job. */
export type JobControl = 'jobs_cancel_any' | 'jobs_run_cancel';

/** Cancelling, reprioritising, retrying: admins, the launcher, or `action` where the job writes. */
export async function requireJobControl(handle: DatabaseHandle, access: AccessContext, job: JobRef, action: JobControl): Promise<void> {
  const p = access.principal;
  if (p.readOnly || p.jobId) throw forbidden('read-only and job keys cannot change jobs');
  if (p.isAdmin || job.origin_id === p.userId) return;
  const dest = await destinationOf(handle, job);
  if (dest && (await access.can(dest, action))) return;
  throw forbidden(`permission denied: only the user who launched job ${job.id}, a site admin or a user with ${action} may do this`);
}

/**
 * Retrying: as steering, and a job with an api-key input only by its launcher or a site admin,
 * since the copy mints a key acting as the launcher.
 */
export async function requireJobRetry(handle: DatabaseHandle, access: AccessContext, job: JobRef, manifest: GearManifest | undefined): Promise<void> {
  const p = access.principal;
  if (manifest && Object.values(manifest.inputs ?? {}).some((s) => s.base === 'api-key') && !p.isAdmin && job.origin_id !== p.userId) {
    throw forbidden('only the user who launched a job with an api-key input, or a site admin, may retry it');
  }
  await requireJobControl(handle, access, job, 'jobs_run_cancel');
}

/** Launching a job at all (what it reads and writes is checked against the containers). */
export function requireMayLaunch(access: AccessContext): void {
  requireWritableKey(access.principal, 'launch jobs');
}
