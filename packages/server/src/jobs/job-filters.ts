import { JOB_STATES } from '@sprocket/types';
import type { SelectQueryBuilder } from 'kysely';
import type { DatabaseHandle } from '../db/dialect.js';
import type { Database } from '../db/schema.js';
import { badRequest } from '../errors.js';
import type { FieldResolver } from '../http/filters.js';

/** What the job lists filter on besides `filter=`: Flywheel's SDK passes `states` and `tags` as comma lists. */
export interface JobListFilters {
  states?: string;
  tags?: string;
}

/** Filter and sort keys of the job lists. */
export const jobFieldResolver: FieldResolver = (key) => {
  const columns: Record<string, string> = {
    _id: 'id',
    id: 'id',
    state: 'state',
    gear_id: 'gear_id',
    'gear_info.name': 'gear_name',
    priority: 'priority',
    previous_job_id: 'previous_job_id',
    'origin.id': 'origin_id',
    'destination.type': 'destination_type',
    'destination.id': 'destination_id',
    label: 'label',
    batch: 'batch',
    failure_reason: 'failure_reason',
    claimed_by: 'claimed_by',
    created: 'created',
    modified: 'modified',
    'transitions.running': 't_running',
    'transitions.complete': 't_complete',
    'transitions.failed': 't_failed',
    'transitions.cancelled': 't_cancelled',
  };
  // Own keys only: `sort=constructor` must not find Object.prototype's members.
  if (Object.hasOwn(columns, key)) return { kind: 'column', column: `jobs.${columns[key]}` };
  if (key === 'attempt' || key === 'exit_code') return { kind: 'column', column: `jobs.${key}`, numeric: true };
  if (key === 'tags') return { kind: 'array', column: 'jobs.tags' };
  if (key.startsWith('gear_info.')) return { kind: 'json', column: 'jobs.gear_info', path: key.slice(10).split('.') };
  if (key.startsWith('origin.')) return { kind: 'json', column: 'jobs.origin', path: key.slice(7).split('.') };
  if (key.startsWith('config.')) return { kind: 'json', column: 'jobs.config', path: key.slice(7).split('.') };
  if (key.startsWith('parents.')) return { kind: 'json', column: 'jobs.parents', path: key.slice(8).split('.') };
  if (key.startsWith('profile.')) return { kind: 'json', column: 'jobs.profile', path: key.slice(8).split('.') };
  return undefined;
};

/** Narrows a job query to `states` (checked against the job states) and to jobs carrying every one of `tags`. */
// biome-ignore lint/suspicious/noExplicitAny: any job query
export function stateAndTagQuery<Q extends SelectQueryBuilder<Database, any, any>>(
  handle: DatabaseHandle,
  q: Q,
  filters: JobListFilters,
): Q {
  const { states, tags } = filters;
  let out = q;
  const wanted = (states ?? '').split(',').filter(Boolean);
  for (const s of wanted)
    if (!(JOB_STATES as readonly string[]).includes(s)) throw badRequest(`states: '${s}' is not a job state (${JOB_STATES.join(', ')})`);
  if (wanted.length) out = out.where('jobs.state', 'in', wanted) as Q;
  for (const t of (tags ?? '').split(',').filter(Boolean)) out = out.where(handle.dialect.jsonArrayContains('jobs.tags', t) as never) as Q;
  return out;
}
