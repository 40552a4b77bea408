import { randomBytes } from 'node:crypto';
import {
  type ClusterState,
  canTransition,
  type FinishBody,
  JOB_PRIORITIES,
  JOB_STATES,
  type JobLogLine,
  type JobPriority,
  type JobState,
  type ResourceRequest,
  TERMINAL_STATES,
} from '@sprocket/types';
import { type Expression, type SqlBool, sql, type Transaction } from 'kysely';
import type { ServerContext } from '../context.js';
import { isPlainObject, type JsonObject, parseJson } from '../dao/json.js';
import type { ContainersTable, Database, FilesTable, JobsTable } from '../db/schema.js';
import { ApiError, apiError, conflict } from '../errors.js';
import type { JobEvent } from '../events.js';
import { newId, now } from '../ids.js';
import { getGear, type LoadedGear } from './gears.js';
import { revokeJobKeys } from './keys.js';
import { appendLog, appendSystemLog } from './logs.js';
import { FALLBACK_POLL_MS } from './notifier.js';

/**
 * The durable job queue: storing prepared jobs (launch.ts builds them), claiming them, moving them
 * through the state table of packages/types/src/jobs.ts, retrying, and finding orphans.
 */

export interface PreparedJob {
  row: JobsTable;
  containers: string[];
  gear: LoadedGear;
  /** The input files, by input name, as they were when the job was prepared. */
  files: Record<string, { holder: ContainersTable; file: FilesTable }>;
}

/**
 * The columns of a job that has not run yet: pending, unclaimed, nothing saved, no result. A new
 * job and a retry (which copies everything else from the attempt before) both start from these, so
 * what a retry clears cannot drift from what a new job starts with.
 */
export function notYetRun(
  stamp: string,
): Pick<
  JobsTable,
  | 'state'
  | 'retried'
  | 'saved_files'
  | 'produced_metadata'
  | 'failure_reason'
  | 'exit_code'
  | 'failed_output_accepted'
  | 'device_id'
  | 'claimed_by'
  | 'heartbeat'
  | 'cluster'
  | 'ticket'
  | 'ticket_success'
  | 't_running'
  | 't_complete'
  | 't_failed'
  | 't_cancelled'
  | 'created'
  | 'modified'
> {
  return {
    state: 'pending',
    retried: null,
    saved_files: '[]',
    produced_metadata: null,
    failure_reason: null,
    exit_code: null,
    failed_output_accepted: 0,
    device_id: null,
    claimed_by: null,
    heartbeat: null,
    cluster: null,
    ticket: null,
    ticket_success: null,
    t_running: null,
    t_complete: null,
    t_failed: null,
    t_cancelled: null,
    created: stamp,
    modified: stamp,
  };
}

function emit(ctx: ServerContext, event: JobEvent): Promise<void> {
  return ctx.events.emit('job', event);
}

/** Stores prepared jobs as pending and wakes waiting engines. */
export async function insertJobs(ctx: ServerContext, jobs: PreparedJob[]): Promise<JobsTable[]> {
  if (!jobs.length) return [];
  await ctx.handle.db.transaction().execute(async (trx) => {
    for (let i = 0; i < jobs.length; i += 200) {
      await trx
        .insertInto('jobs')
        .values(jobs.slice(i, i + 200).map((j) => j.row))
        .execute();
    }
    const links = jobs.flatMap((j) => j.containers.map((c) => ({ job_id: j.row.id, container_id: c })));
    for (let i = 0; i < links.length; i += 500)
      await trx
        .insertInto('job_containers')
        .values(links.slice(i, i + 500))
        .execute();
  });
  ctx.notifier.notify();
  for (const j of jobs) await emit(ctx, { type: 'enqueued', job: j.row });
  return jobs.map((j) => j.row);
}

export async function getJob(ctx: ServerContext, id: string): Promise<JobsTable | undefined> {
  return ctx.handle.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function requireJob(ctx: ServerContext, id: string): Promise<JobsTable> {
  const j = await getJob(ctx, id);
  if (!j) throw apiError('JOB_NOT_FOUND', { id });
  return j;
}

export interface TransitionOptions {
  /** States the job may be in now; default every state the table lets reach `to`. */
  from?: JobState[];
  /** Only when the job is claimed by this device. */
  deviceId?: string;
  /** Only when the last heartbeat is older than this (the orphan sweep). */
  heartbeatBefore?: string;
  set?: Partial<JobsTable>;
  /** A system line for the job log. */
  log?: string;
  /** Log lines the engine sends with the transition (its last ones), stored before `log`. */
  lines?: JobLogLine[];
  /** More writes that must commit with the transition or not at all (the orphan sweep's retry). */
  within?: (trx: Transaction<Database>, moved: JobsTable) => Promise<void>;
}

/**
 * Moves a job to `to` as a compare-and-set on its current state (and claimant): if anything moved
 * it first, nothing is written and the caller gets a 409. Stamps `transitions.<to>`.
 */
export async function transitionJob(ctx: ServerContext, job: JobsTable, to: JobState, opts: TransitionOptions = {}): Promise<JobsTable> {
  const from = opts.from ?? JOB_STATES.filter((s) => canTransition(s, to));
  for (const s of from) if (!canTransition(s, to)) throw conflict(`a job cannot go from ${s} to ${to}`);
  if (!from.includes(job.state as JobState)) {
    throw apiError('JOB_STATE', { id: job.id, state: job.state, reason: `it cannot become ${to}` });
  }
  const stamp = now();
  const set: Partial<JobsTable> = { ...opts.set, state: to, modified: stamp };
  if (to !== 'pending') set[`t_${to}` as 't_running'] = stamp;
  if ((TERMINAL_STATES as readonly string[]).includes(to)) {
    const profile = { ...parseJson<JsonObject>(job.profile, {}), ...parseJson<JsonObject>(opts.set?.profile, {}) };
    profile.total_time_ms = Date.parse(stamp) - Date.parse(job.created);
    set.profile = JSON.stringify(profile);
  }
  const terminal = (TERMINAL_STATES as readonly string[]).includes(to);
  // One transaction: the state change, the end of the job's keys and the log line commit together.
  const updated = await ctx.handle.db.transaction().execute(async (trx) => {
    let q = trx.updateTable('jobs').set(set).where('id', '=', job.id).where('state', 'in', from);
    if (opts.deviceId !== undefined) q = q.where('device_id', '=', opts.deviceId);
    if (opts.heartbeatBefore !== undefined) q = q.where('heartbeat', '<', opts.heartbeatBefore);
    const row = await q.returningAll().executeTakeFirst();
    if (row && terminal) await revokeJobKeys(trx, job.id);
    if (row && opts.lines?.length) await appendLog(trx, job.id, opts.lines);
    if (row && opts.log) await appendSystemLog(trx, job.id, opts.log);
    if (row && opts.within) await opts.within(trx, row);
    return row;
  });
  if (!updated) {
    const cur = await getJob(ctx, job.id);
    if (!cur) throw apiError('JOB_NOT_FOUND', { id: job.id });
    if (opts.deviceId !== undefined && cur.device_id !== opts.deviceId && cur.state === 'running') {
      throw conflict(`job ${job.id} is claimed by another engine`);
    }
    throw apiError('JOB_STATE', { id: job.id, state: cur.state, reason: `it cannot become ${to}` });
  }
  await emit(ctx, { type: 'state', job: updated, from: job.state });
  return updated;
}

/**
 * Queues a copy of a finished job (`attempt + 1`, `previous_job_id`). Only failed jobs, unless
 * `ignoreState` also allows complete and cancelled ones; a job is retried at most once.
 */
export async function retryJob(
  ctx: ServerContext,
  job: JobsTable,
  opts: { ignoreState?: boolean; resources?: ResourceRequest } = {},
): Promise<JobsTable> {
  const retry = await prepareRetry(ctx, job, opts);
  await ctx.handle.db.transaction().execute((trx) => retry.insert(trx));
  await retry.announce();
  return retry.row;
}

/**
 * The retry of `job`, built but not stored: `insert` writes it inside a caller's transaction, so
 * the orphan sweep can fail a job and queue its retry atomically; `announce` runs after commit.
 */
async function prepareRetry(
  ctx: ServerContext,
  job: JobsTable,
  opts: { ignoreState?: boolean; resources?: ResourceRequest } = {},
): Promise<{ row: JobsTable; insert(trx: Transaction<Database>): Promise<void>; announce(): Promise<void> }> {
  const allowed: JobState[] = opts.ignoreState ? ['failed', 'complete', 'cancelled'] : ['failed'];
  if (!allowed.includes(job.state as JobState)) {
    throw apiError('JOB_STATE', {
      id: job.id,
      state: job.state,
      reason: `only ${opts.ignoreState ? 'finished' : 'failed'} jobs can be retried${opts.ignoreState ? '' : ' (ignoreState=true also allows complete and cancelled ones)'}`,
    });
  }
  if (!(await getGear(ctx, job.gear_id))) throw conflict(`job ${job.id} cannot be retried: its gear ${job.gear_id} was deleted`);
  const stamp = now();
  const id = newId();
  const payload = parseJson<JsonObject>(job.config, {});
  if (isPlainObject(payload.job)) payload.job = { id };
  const profile = parseJson<JsonObject>(job.profile, {});
  const row: JobsTable = {
    ...job,
    id,
    attempt: job.attempt + 1,
    previous_job_id: job.id,
    // A retry may ask for more than the attempt that failed (batch retry-failed with more memory).
    resources: opts.resources ? JSON.stringify({ ...parseJson<ResourceRequest>(job.resources, {}), ...opts.resources }) : job.resources,
    config: JSON.stringify(payload),
    profile: JSON.stringify({
      total_input_files: profile.total_input_files ?? 0,
      total_input_size_bytes: profile.total_input_size_bytes ?? 0,
    }),
    ...notYetRun(stamp),
  };
  return {
    row,
    async insert(trx) {
      const r = await trx
        .updateTable('jobs')
        .set({ retried: stamp })
        .where('id', '=', job.id)
        .where('retried', 'is', null)
        .where('state', 'in', allowed)
        .executeTakeFirst();
      if (!Number(r.numUpdatedRows)) throw conflict(`job ${job.id} was already retried`);
      await trx.insertInto('jobs').values(row).execute();
      const links = await trx.selectFrom('job_containers').select('container_id').where('job_id', '=', job.id).execute();
      if (links.length)
        await trx
          .insertInto('job_containers')
          .values(links.map((l) => ({ job_id: id, container_id: l.container_id })))
          .execute();
      if (job.destination_type === 'analysis') {
        // The analysis follows its latest attempt.
        const a = await trx.selectFrom('containers').select('fields').where('id', '=', job.destination_id).executeTakeFirst();
        if (a) {
          const fields = { ...parseJson<JsonObject>(a.fields, {}), job: id };
          await trx
            .updateTable('containers')
            .set({ fields: JSON.stringify(fields), modified: stamp })
            .where('id', '=', job.destination_id)
            .execute();
        }
      }
    },
    async announce() {
      ctx.notifier.notify();
      await emit(ctx, { type: 'retried', job: row, previous: job });
    },
  };
}

/**
 * Writes to a job in flight. Each is a compare-and-set on the state it needs (and, for an engine's
 * writes, on the claimant), so a cancel or an orphan sweep in between wins and the writer learns so.
 */

/** A pending job's priority (`PUT /jobs/{id}`); 409 once an engine took it. */
export async function changePendingPriority(ctx: ServerContext, job: JobsTable, priority: JobPriority): Promise<void> {
  const r = await ctx.handle.db
    .updateTable('jobs')
    .set({ priority, priority_rank: JOB_PRIORITIES[priority], modified: now() })
    .where('id', '=', job.id)
    .where('state', '=', 'pending')
    .executeTakeFirst();
  if (!Number(r.numUpdatedRows)) throw new ApiError('CONFLICT', `job ${job.id} is no longer pending; its priority cannot change`);
}

/**
 * Log lines and the heartbeat of a running job, committed together (`POST /jobs/{id}/logs`).
 * `heartbeat` unset writes the lines only. False when the job no longer runs on this engine: then
 * nothing was written, its log being closed.
 */
export async function appendRunningLog(
  ctx: ServerContext,
  job: JobsTable,
  deviceId: string,
  lines: JobLogLine[],
  heartbeat?: string,
): Promise<boolean> {
  return ctx.handle.db.transaction().execute(async (trx) => {
    // The state is checked again in the transaction: a cancel between the caller's read and here closes the log.
    const r = await trx
      .updateTable('jobs')
      .set(heartbeat ? { heartbeat } : { modified: job.modified })
      .where('id', '=', job.id)
      .where('state', '=', 'running')
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    if (!Number(r.numUpdatedRows)) return false;
    await appendLog(trx, job.id, lines);
    return true;
  });
}

/** A sign of life without log lines (a long output upload). */
export async function touchHeartbeat(ctx: ServerContext, jobId: string): Promise<void> {
  await ctx.handle.db.updateTable('jobs').set({ heartbeat: now() }).where('id', '=', jobId).where('state', '=', 'running').execute();
}

/**
 * `PUT /jobs/{id}/cluster`: where the job stands on the batch cluster its engine handed it to, from
 * that engine only. While the job runs it is also a heartbeat (the engine speaks for a job waiting
 * on the cluster); after the job ended, the cluster's last word (COMPLETED, TIMEOUT …) is still kept.
 */
export async function recordClusterState(ctx: ServerContext, job: JobsTable, deviceId: string, cluster: ClusterState): Promise<void> {
  const r = await ctx.handle.db
    .updateTable('jobs')
    .set({ cluster: JSON.stringify(cluster) })
    .where('id', '=', job.id)
    .where('state', '!=', 'pending')
    .where('device_id', '=', deviceId)
    .executeTakeFirst();
  if (!Number(r.numUpdatedRows)) throw apiError('JOB_STATE', { id: job.id, state: job.state, reason: 'it is not claimed by this engine' });
  await touchHeartbeat(ctx, job.id);
}

/** `POST /jobs/{id}/prepare-complete`: the ticket the output upload must carry, and how the gear ended. */
export async function issueCompletionTicket(
  ctx: ServerContext,
  job: JobsTable,
  deviceId: string,
  result: { success: boolean; exit_code?: number | null },
): Promise<string> {
  const ticket = randomBytes(18).toString('base64url');
  const r = await ctx.handle.db
    .updateTable('jobs')
    .set({ ticket, ticket_success: result.success ? 1 : 0, exit_code: result.exit_code ?? null, heartbeat: now() })
    .where('id', '=', job.id)
    .where('state', '=', 'running')
    .where('device_id', '=', deviceId)
    .executeTakeFirst();
  if (!Number(r.numUpdatedRows)) throw apiError('JOB_STATE', { id: job.id, state: job.state, reason: 'it cannot be completed' });
  return ticket;
}

/** Executor and version details an engine reports (`PUT /jobs/{id}/profile`), merged into the job's profile. */
export async function mergeRunningProfile(ctx: ServerContext, job: JobsTable, deviceId: string, details: JsonObject): Promise<void> {
  const profile = { ...parseJson<JsonObject>(job.profile, {}), ...details };
  const r = await ctx.handle.db
    .updateTable('jobs')
    .set({ profile: JSON.stringify(profile), heartbeat: now() })
    .where('id', '=', job.id)
    .where('state', '=', 'running')
    .where('device_id', '=', deviceId)
    .executeTakeFirst();
  if (!Number(r.numUpdatedRows))
    throw apiError('JOB_STATE', { id: job.id, state: job.state, reason: 'its profile changes only while it runs' });
}

/** What an output upload saved: the file names, the metadata the gear produced, the upload's profile figures. */
export async function recordOutputs(
  ctx: ServerContext,
  job: JobsTable,
  out: { savedFiles: string[]; metadata?: JsonObject; profile: JsonObject },
): Promise<void> {
  const stamp = now();
  await ctx.handle.db
    .updateTable('jobs')
    .set({
      saved_files: JSON.stringify(out.savedFiles),
      produced_metadata: out.metadata ? JSON.stringify(out.metadata) : job.produced_metadata,
      profile: JSON.stringify(out.profile),
      heartbeat: stamp,
      modified: stamp,
    })
    .where('id', '=', job.id)
    .execute();
}

/** Marks a failed job's output accepted, once; 409 when it already was. */
export async function markFailedOutputAccepted(ctx: ServerContext, job: JobsTable): Promise<void> {
  const r = await ctx.handle.db
    .updateTable('jobs')
    .set({ failed_output_accepted: 1, modified: now() })
    .where('id', '=', job.id)
    .where('failed_output_accepted', '=', 0)
    .executeTakeFirst();
  if (!Number(r.numUpdatedRows)) throw conflict(`the output of job ${job.id} was already accepted`);
}

/** What an engine asks for in `POST /jobs/ask`. */
export interface AskFilter {
  capabilities: string[];
  limit: number;
  whitelist?: Record<string, unknown>;
  blacklist?: Record<string, unknown>;
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function claimCondition(ctx: ServerContext, f: AskFilter): Expression<SqlBool> {
  const d = ctx.handle.dialect;
  const parts: Expression<SqlBool>[] = [d.jsonArrayWithin('jobs.capabilities', f.capabilities) as Expression<SqlBool>];
  const list = (vals: string[]) => sql.join(vals.map((v) => sql`${v}`));
  const anyTag = (tags: string[]) =>
    sql<SqlBool>`(${sql.join(
      tags.map((t) => d.jsonArrayContains('jobs.tags', t)),
      sql` or `,
    )})`;
  const group = d.jsonText('jobs.parents', ['group']);
  const w = f.whitelist ?? {};
  const b = f.blacklist ?? {};
  if (stringList(w['gear-name']).length) parts.push(sql<SqlBool>`jobs.gear_name in (${list(stringList(w['gear-name']))})`);
  if (stringList(w.tag).length) parts.push(anyTag(stringList(w.tag)));
  if (stringList(w.group).length) parts.push(sql<SqlBool>`${group} in (${list(stringList(w.group))})`);
  if (stringList(b['gear-name']).length) parts.push(sql<SqlBool>`jobs.gear_name not in (${list(stringList(b['gear-name']))})`);
  if (stringList(b.tag).length) parts.push(sql<SqlBool>`not ${anyTag(stringList(b.tag))}`);
  if (stringList(b.group).length) parts.push(sql<SqlBool>`(${group} is null or ${group} not in (${list(stringList(b.group))}))`);
  return sql<SqlBool>`(${sql.join(parts, sql` and `)})`;
}

/**
 * Claims up to `limit` jobs for an engine, waiting up to `waitMs` for one to be queued. Claim
 * order: priority, then age. Returns as soon as anything was claimed.
 */
export async function claimJobs(
  ctx: ServerContext,
  engine: { deviceId: string; claimedBy: string },
  filter: AskFilter,
  waitMs: number,
  signal?: AbortSignal,
): Promise<JobsTable[]> {
  const notifier = ctx.notifier;
  const deadline = Date.now() + waitMs;
  const where = claimCondition(ctx, filter);
  for (;;) {
    const seen = notifier.current;
    if (signal?.aborted || notifier.isClosed) return [];
    const jobs = await ctx.handle.dialect.claimJobs(ctx.handle.db, {
      where,
      limit: filter.limit,
      deviceId: engine.deviceId,
      claimedBy: engine.claimedBy,
      stamp: now(),
    });
    if (jobs.length) {
      jobs.sort((a, b) => b.priority_rank - a.priority_rank || a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
      for (const j of jobs) await emit(ctx, { type: 'state', job: j, from: 'pending' });
      return jobs;
    }
    const left = deadline - Date.now();
    if (left <= 0) return [];
    await notifier.wait(seen, Math.min(left, FALLBACK_POLL_MS), signal);
  }
}

/**
 * Fails running jobs whose engine stopped heartbeating and retries them while attempts remain.
 * Safe to run from several server processes at once: each failure is a compare-and-set, and only
 * the process that made it queues the retry.
 */
export async function sweepOrphans(ctx: ServerContext): Promise<number> {
  const timeoutMs = ctx.config.jobHeartbeatTimeout * 1000;
  const cutoff = new Date(Date.now() - timeoutMs).toISOString();
  const stale = await ctx.handle.db
    .selectFrom('jobs')
    .selectAll()
    .where('state', '=', 'running')
    .where('heartbeat', '<', cutoff)
    .limit(500)
    .execute();
  let failed = 0;
  for (const job of stale) {
    const seconds = ctx.config.jobHeartbeatTimeout;
    const max = ctx.config.jobMaxAttempts;
    // The retry commits with the failure: a crash in between must not leave a failed orphan unretried.
    const retry =
      job.attempt < max
        ? await prepareRetry(ctx, { ...job, state: 'failed' }).catch((e) => (e instanceof ApiError ? undefined : Promise.reject(e)))
        : undefined;
    try {
      await transitionJob(ctx, job, 'failed', {
        from: ['running'],
        heartbeatBefore: cutoff,
        set: { failure_reason: `orphaned: no heartbeat from engine ${job.claimed_by ?? job.device_id ?? '?'} for more than ${seconds} s` },
        log: `Job orphaned: engine ${job.claimed_by ?? job.device_id ?? '?'} sent no heartbeat for more than ${seconds} s (last at ${job.heartbeat}); marked failed.`,
        within: async (trx) => {
          if (retry) {
            await retry.insert(trx);
            await appendSystemLog(trx, job.id, `Retried as job ${retry.row.id} (attempt ${retry.row.attempt} of ${max}).`);
            await appendSystemLog(
              trx,
              retry.row.id,
              `Retry of job ${job.id}, which was orphaned (attempt ${retry.row.attempt} of ${max}).`,
            );
          } else if (job.attempt >= max) {
            await appendSystemLog(trx, job.id, `Not retried: attempt ${job.attempt} reached SPROCKET_JOB_MAX_ATTEMPTS (${max}).`);
          }
        },
      });
    } catch (e) {
      if (e instanceof ApiError) continue;
      throw e;
    }
    failed++;
    await retry?.announce();
  }
  return failed;
}

/**
 * Runs the orphan sweep every timeout/4. A freshly started server waits one full timeout first:
 * engines that kept running while it was down need a moment to heartbeat again.
 */
export function startOrphanSweeper(ctx: ServerContext): () => Promise<void> {
  const timeoutMs = ctx.config.jobHeartbeatTimeout * 1000;
  const startedAt = Date.now();
  let running: Promise<unknown> | undefined;
  let stopped = false;
  const timer = setInterval(
    () => {
      if (stopped || running || Date.now() - startedAt < timeoutMs) return;
      running = sweepOrphans(ctx)
        .catch((e) => process.emitWarning(`orphan sweep failed: ${(e as Error).message}`))
        .finally(() => {
          running = undefined;
        });
    },
    Math.max(100, Math.floor(timeoutMs / 4)),
  );
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}

/**
 * An engine's verdict on a running job it holds: complete or failed, with the engine's profile merged
 * over what the job had, a failure reason in words when the engine gave none, and a closing log line
 * naming the outputs saved. A job that moved on without the engine (cancelled, orphaned) refuses
 * this with 409: its log is closed to the engine now.
 */
export async function finishJob(ctx: ServerContext, job: JobsTable, b: FinishBody, deviceId: string): Promise<JobsTable> {
  const engineProfile = isPlainObject(b.profile) ? b.profile : {};
  const profile = { ...parseJson<JsonObject>(job.profile, {}), ...engineProfile };
  if (b.elapsed !== undefined && profile.elapsed_time_ms === undefined) profile.elapsed_time_ms = b.elapsed;
  const exitCode = b.exit_code ?? job.exit_code;
  const reason = b.success
    ? null
    : (b.failure_reason ?? (exitCode !== null && exitCode !== undefined ? `gear exited with code ${exitCode}` : 'gear failed'));
  const saved = parseJson<string[]>(job.saved_files, []);
  return transitionJob(ctx, job, b.success ? 'complete' : 'failed', {
    from: ['running'],
    deviceId,
    set: { failure_reason: reason, exit_code: exitCode ?? null, profile: JSON.stringify(profile), ticket: null },
    lines: (b.logs ?? []).map((l) => ({ fd: l.fd, msg: l.msg })),
    log: b.success
      ? `Job complete${saved.length ? `. The following outputs have been saved: ${saved.join(', ')}` : ''}.`
      : `Job failed: ${reason}${saved.length ? `. Outputs kept (flagged from_failed_job): ${saved.join(', ')}` : ''}.`,
  });
}
