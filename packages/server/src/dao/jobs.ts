import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import type { Database, JobsTable } from '../db/schema.js';
import { type JsonObject, parseJson } from './json.js';

/**
 * Reads of job rows for listings and counts. Every write to a job row is a jobs/queue.ts function;
 * these only look.
 */

type JobsQuery = SelectQueryBuilder<Database, 'jobs', JobsTable>;

/** Job rows by id (any order; ids that match nothing are left out). */
export async function jobsByIds(db: Kysely<Database>, ids: string[]): Promise<JobsTable[]> {
  const rows: JobsTable[] = [];
  for (let i = 0; i < ids.length; i += 500)
    rows.push(
      ...(await db
        .selectFrom('jobs')
        .selectAll()
        .where('id', 'in', ids.slice(i, i + 500))
        .execute()),
    );
  return rows;
}

/** Every job, for `GET /jobs` to narrow (visibility, states, tags) and page. */
export function jobsQuery(db: Kysely<Database>): JobsQuery {
  return db.selectFrom('jobs').selectAll('jobs');
}

/** Jobs whose inputs or destination are the container or below it (the job_containers index). */
export function jobsTouchingQuery(db: Kysely<Database>, containerId: string): JobsQuery {
  return db
    .selectFrom('jobs')
    .selectAll('jobs')
    .where('jobs.id', 'in', (eb) =>
      eb.selectFrom('job_containers').select('job_containers.job_id').where('job_containers.container_id', '=', containerId),
    );
}

/** What a user launched, optionally of one gear name. */
function launchedBy(db: Kysely<Database>, userId: string, gear?: string) {
  let base = db.selectFrom('jobs').where('origin_id', '=', userId);
  if (gear) base = base.where('gear_name', '=', gear);
  return base;
}

export function jobsLaunchedByQuery(db: Kysely<Database>, userId: string, gear?: string): JobsQuery {
  return launchedBy(db, userId, gear).selectAll();
}

/** Counts by state (only states that occur), of every job or of those a user launched. */
export async function jobStateCounts(db: Kysely<Database>, launched?: { userId: string; gear?: string }): Promise<Map<string, number>> {
  const base = launched ? launchedBy(db, launched.userId, launched.gear) : db.selectFrom('jobs');
  const rows = await base
    .select(['state', sql<number>`count(*)`.as('n')])
    .groupBy('state')
    .execute();
  return new Map(rows.map((r) => [r.state, Number(r.n)]));
}

/** The current jobs (not retried) of each batch, oldest first: id and state. */
export async function batchJobStates(db: Kysely<Database>, batchIds: string[]): Promise<Map<string, { id: string; state: string }[]>> {
  const byBatch = new Map<string, { id: string; state: string }[]>();
  for (let i = 0; i < batchIds.length; i += 500) {
    const jobs = await db
      .selectFrom('jobs')
      .select(['id', 'batch', 'state'])
      .where('batch', 'in', batchIds.slice(i, i + 500))
      .where('retried', 'is', null)
      .orderBy('created')
      .orderBy('id')
      .execute();
    for (const j of jobs) byBatch.set(j.batch!, [...(byBatch.get(j.batch!) ?? []), { id: j.id, state: j.state }]);
  }
  return byBatch;
}

/** One queued or running job of a gear, if any (a gear is not deleted under them). */
export async function activeJobOfGear(db: Kysely<Database>, gearId: string): Promise<{ id: string } | undefined> {
  return db
    .selectFrom('jobs')
    .select('id')
    .where('gear_id', '=', gearId)
    .where('state', 'in', ['pending', 'running'])
    .limit(1)
    .executeTakeFirst();
}

/** A job's invocation as stored (Flywheel's `{config, inputs, destination}`), as a document. */
export function invocationOf(job: Pick<JobsTable, 'config'>): JsonObject {
  return parseJson<JsonObject>(job.config, {});
}
