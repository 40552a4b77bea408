import type { GearManifest } from '@sprocket/types';
import type { ExpressionBuilder, SelectQueryBuilder } from 'kysely';
import type { DatabaseHandle } from '../db/dialect.js';
import type { Database, JobsTable } from '../db/schema.js';
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
  return handle.db
    .selectFrom('containers')
    .select(['id', 'type', 'project_id', 'group_id'])
    .where('id', '=', job.destination_id)
    .executeTakeFirst();
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
export async function requireJobRetry(
  handle: DatabaseHandle,
  access: AccessContext,
  job: JobRef,
  manifest: GearManifest | undefined,
): Promise<void> {
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

/**
 * Projects whose jobs this reader may list beyond their own: those where they hold jobs_view (the
 * check canSeeJob makes one job at a time). Bounded by the projects they have any role on.
 */
export async function jobsViewProjects(handle: DatabaseHandle, access: AccessContext): Promise<string[]> {
  const { projects } = await access.visibleProjectIds();
  if (!projects.length) return [];
  const out: string[] = [];
  for (let i = 0; i < projects.length; i += 500) {
    const rows = await handle.db
      .selectFrom('containers')
      .select(['id', 'group_id'])
      .where('id', 'in', projects.slice(i, i + 500))
      .execute();
    for (const r of rows) if ((await access.projectActions(r.id, r.group_id)).has('jobs_view')) out.push(r.id);
  }
  return out;
}

/**
 * What canSeeJob allows, as one query over `jobs` for a user: everything for site admins; else
 * their own jobs (not through a job key) and jobs writing where they hold jobs_view. Undefined
 * when they may see none. What of those jobs they may not see is redacted by the listing.
 */
// biome-ignore lint/suspicious/noExplicitAny: any query over jobs
export async function visibleJobs<Q extends SelectQueryBuilder<Database, 'jobs' | any, any>>(
  handle: DatabaseHandle,
  access: AccessContext,
  q: Q,
): Promise<Q | undefined> {
  if (access.isAdmin) return q;
  const p = access.principal;
  const projects = await jobsViewProjects(handle, access);
  const mine = p.jobId ? undefined : p.userId;
  if (!projects.length && !mine) return undefined;
  return q.where((eb: ExpressionBuilder<Database, 'jobs'>) => {
    const ors = [];
    if (mine) ors.push(eb('jobs.origin_id', '=', mine));
    if (projects.length) {
      ors.push(
        eb(
          'jobs.destination_id',
          'in',
          eb
            .selectFrom('containers')
            .select('containers.id')
            .where((c) => c.or([c('containers.project_id', 'in', projects), c('containers.id', 'in', projects)])),
        ),
      );
    }
    return eb.or(ors);
  }) as Q;
}
