import { parseResources, TERMINAL_STATES } from '@sprocket/types';
import type { AccessContext } from '../auth/access.js';
import { ownsOrAdmin, requireWritableKey } from '../auth/principal.js';
import type { ServerContext } from '../context.js';
import { type JsonObject, parseJson } from '../dao/json.js';
import type { BatchesTable, JobsTable } from '../db/schema.js';
import { ApiError, apiError, badRequest } from '../errors.js';
import { now } from '../ids.js';
import { createJobAnalysis } from './analyses.js';
import type { Proposal, Summary } from './batch-proposal.js';
import { type JobOrigin, prepareJob } from './launch.js';
import { containerLabels } from './listing.js';
import { insertJobs, type PreparedJob, retryJob, transitionJob } from './queue.js';

/**
 * Batch runs (reference §2.11): running a proposal (batch-proposal.ts) queues one job (or analysis)
 * per matched container. The batch's state is derived from its jobs' latest attempts.
 */

// The routes reach the whole batch lifecycle through this module.
export { type BatchInput, OPTIONAL_INPUT_POLICIES, proposeBatch } from './batch-proposal.js';

/** The batch, if the caller launched it or is a site admin (others get a 404). */
export async function loadBatch(ctx: ServerContext, access: AccessContext, id: string): Promise<BatchesTable> {
  const row = await ctx.handle.db.selectFrom('batches').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || !ownsOrAdmin(access.principal, row.origin_id)) throw apiError('BATCH_NOT_FOUND', { id });
  return row;
}

/** The batch's jobs: the latest attempt of each job it launched (retries replace what they retry). */
export async function batchJobs(ctx: ServerContext, batchId: string): Promise<JobsTable[]> {
  return ctx.handle.db
    .selectFrom('jobs')
    .selectAll()
    .where('batch', '=', batchId)
    .where('retried', 'is', null)
    .orderBy('created')
    .orderBy('id')
    .execute();
}

/** running while anything is queued or running; complete once all ended and any did not fail; else failed. */
export function deriveState(stored: string, jobStates: string[]): string {
  if (stored === 'pending' || stored === 'cancelled') return stored;
  if (jobStates.some((s) => !(TERMINAL_STATES as readonly string[]).includes(s))) return 'running';
  if (jobStates.length && jobStates.every((s) => s === 'failed')) return 'failed';
  return 'complete';
}

/** Beyond Flywheel, for listings: the gear's name and version, and the batch's targets with their paths. */
export interface BatchExtras {
  gear_info?: { id: string; name: string; version: string };
  targets?: { type: string; id: string; path?: string }[];
}

/** The extras of many batches in two lookups (gears, container paths), not one per batch. */
export async function batchExtras(ctx: ServerContext, rows: BatchesTable[]): Promise<Map<string, BatchExtras>> {
  const { db } = ctx.handle;
  const gearIds = [...new Set(rows.map((r) => r.gear_id))];
  const gears = new Map<string, { id: string; name: string; version: string }>();
  for (let i = 0; i < gearIds.length; i += 500) {
    for (const g of await db
      .selectFrom('gears')
      .select(['id', 'name', 'version'])
      .where('id', 'in', gearIds.slice(i, i + 500))
      .execute())
      gears.set(g.id, g);
  }
  const targetsOf = (r: BatchesTable) =>
    parseJson<Proposal>(r.proposal, { entries: [], analysis: null, tags: [], priority: 'medium', optional_input_policy: 'ignored' })
      .targets ?? [];
  const labels = await containerLabels(
    ctx.handle,
    rows.flatMap((r) => targetsOf(r).map((t) => t.id)),
  );
  const out = new Map<string, BatchExtras>();
  for (const r of rows) {
    out.set(r.id, {
      ...(gears.has(r.gear_id) ? { gear_info: gears.get(r.gear_id)! } : {}),
      targets: targetsOf(r).map((t) => ({ ...t, ...(labels.has(t.id) ? { path: labels.get(t.id)!.path } : {}) })),
    });
  }
  return out;
}

export function batchDoc(row: BatchesTable, jobs: JobsTable[] | string[], states: string[], extras: BatchExtras = {}): JsonObject {
  const summary = parseJson<Summary>(row.summary, { matched: [], ambiguous: [], not_matched: [], improper_permissions: [] });
  const counts: Record<string, number> = {};
  for (const s of states) counts[s] = (counts[s] ?? 0) + 1;
  return {
    _id: row.id,
    gear_id: row.gear_id,
    state: deriveState(row.state, states),
    origin: parseJson<JsonObject>(row.origin, {}),
    config: parseJson<JsonObject>(row.config, {}),
    jobs,
    job_states: counts,
    matched: summary.matched.length,
    ...(summary.skipped?.length ? { skipped: summary.skipped } : {}),
    ...extras,
    created: row.created,
    modified: row.modified,
  };
}

/**
 * `POST /batch/{id}/run`: queues one job per matched container (analyses for analysis gears), all
 * tagged `batch` and carrying the batch id. Entries that can no longer launch are skipped and listed.
 */
export async function runBatch(ctx: ServerContext, access: AccessContext, row: BatchesTable): Promise<JobsTable[]> {
  requireWritableKey(access.principal, 'change batches');
  const { db } = ctx.handle;
  const claimed = await db
    .updateTable('batches')
    .set({ state: 'launched', modified: now() })
    .where('id', '=', row.id)
    .where('state', '=', 'pending')
    .executeTakeFirst();
  if (!Number(claimed.numUpdatedRows)) throw apiError('BATCH_STATE', { id: row.id, reason: 'is not pending; it runs once' });
  const proposal = parseJson<Proposal>(row.proposal, {
    entries: [],
    analysis: null,
    tags: [],
    priority: 'medium',
    optional_input_policy: 'ignored',
  });
  const launch = proposal.analysis ? launchAnalyses : launchJobs;
  const { jobIds, skipped } = await launch(ctx, access, row, proposal);
  if (skipped.length) await recordSkipped(ctx, row, skipped);
  if (!jobIds.length) return [];
  return db.selectFrom('jobs').selectAll().where('id', 'in', jobIds).orderBy('created').orderBy('id').execute();
}

interface Launched {
  jobIds: string[];
  /** Entries that could no longer launch (moved, deleted, permissions changed), with the reason. */
  skipped: NonNullable<Summary['skipped']>;
}

/** An analysis gear's batch: one analysis per entry, each with its job. */
async function launchAnalyses(ctx: ServerContext, access: AccessContext, row: BatchesTable, proposal: Proposal): Promise<Launched> {
  const analysis = proposal.analysis!;
  const config = parseJson<JsonObject>(row.config, {});
  const out: Launched = { jobIds: [], skipped: [] };
  for (const e of proposal.entries) {
    try {
      const parent = await access.requireContainer(e.container.type, e.container.id, 'analyses_create_job');
      const { job: jobId } = await createJobAnalysis(
        ctx,
        access,
        parent,
        {
          label: analysis.label,
          description: analysis.description ?? '',
          job: { gear_id: row.gear_id, inputs: e.inputs, config, tags: [...proposal.tags, 'batch'], priority: proposal.priority },
        },
        { batch: row.id },
      );
      out.jobIds.push(jobId);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      out.skipped.push({ container: e.container.id, reason: err.message });
    }
  }
  return out;
}

/** A utility gear's batch: every entry prepared first, then all queued in one insert. */
async function launchJobs(ctx: ServerContext, access: AccessContext, row: BatchesTable, proposal: Proposal): Promise<Launched> {
  const config = parseJson<JsonObject>(row.config, {});
  const origin: JobOrigin = parseJson<JobOrigin>(row.origin, { type: 'user', id: access.principal.userId });
  const prepared: PreparedJob[] = [];
  const skipped: NonNullable<Summary['skipped']> = [];
  for (const e of proposal.entries) {
    try {
      prepared.push(
        await prepareJob(
          ctx,
          {
            gear_id: row.gear_id,
            inputs: e.inputs,
            destination: e.container,
            config,
            tags: proposal.tags,
            priority: proposal.priority,
            batch: row.id,
          },
          { access, origin, extraTags: ['batch'] },
        ),
      );
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      skipped.push({ container: e.container.id, reason: err.message });
    }
  }
  return { jobIds: (await insertJobs(ctx, prepared)).map((j) => j.id), skipped };
}

async function recordSkipped(ctx: ServerContext, row: BatchesTable, skipped: NonNullable<Summary['skipped']>): Promise<void> {
  const summary = {
    ...parseJson<Summary>(row.summary, { matched: [], ambiguous: [], not_matched: [], improper_permissions: [] }),
    skipped,
  };
  await ctx.handle.db
    .updateTable('batches')
    .set({ summary: JSON.stringify(summary) })
    .where('id', '=', row.id)
    .execute();
}

/** `POST /batch/{id}/cancel`: the batch stops; its jobs still queued are cancelled (running ones finish). */
export async function cancelBatch(ctx: ServerContext, access: AccessContext, row: BatchesTable): Promise<number> {
  requireWritableKey(access.principal, 'change batches');
  const { db } = ctx.handle;
  const r = await db
    .updateTable('batches')
    .set({ state: 'cancelled', modified: now() })
    .where('id', '=', row.id)
    .where('state', 'in', ['pending', 'launched'])
    .executeTakeFirst();
  if (!Number(r.numUpdatedRows)) throw apiError('BATCH_STATE', { id: row.id, reason: 'is already cancelled' });
  const who = access.principal.userId;
  let n = 0;
  const pending = await db.selectFrom('jobs').selectAll().where('batch', '=', row.id).where('state', '=', 'pending').execute();
  for (const job of pending) {
    try {
      await transitionJob(ctx, job, 'cancelled', { from: ['pending'], log: `Job cancelled with its batch ${row.id} by ${who}.` });
      n++;
    } catch (e) {
      // Claimed by an engine meanwhile: it runs to its end.
      if (!(e instanceof ApiError)) throw e;
    }
  }
  return n;
}

export interface RetryFailedInput {
  exit_codes?: number[];
  memory?: string;
}

/**
 * `POST /batch/{id}/retry-failed` (beyond Flywheel): re-queues the batch's failed jobs in one call,
 * optionally only those that exited with one of `exit_codes`, optionally asking for more memory.
 */
export async function retryFailed(
  ctx: ServerContext,
  access: AccessContext,
  row: BatchesTable,
  b: RetryFailedInput,
): Promise<{ retried: string[]; from: string[] }> {
  requireWritableKey(access.principal, 'change batches');
  if (row.state === 'pending') throw apiError('BATCH_STATE', { id: row.id, reason: 'has not run yet' });
  let resources: { memory: string } | undefined;
  if (b.memory !== undefined) {
    const r = parseResources({ memory: b.memory }, 'body');
    if (r.problem) throw badRequest(r.problem);
    resources = { memory: r.value!.memory! };
  }
  const codes = b.exit_codes ? new Set(b.exit_codes) : undefined;
  const failed = (await batchJobs(ctx, row.id)).filter(
    (j) => j.state === 'failed' && (!codes || (j.exit_code !== null && codes.has(j.exit_code))),
  );
  const retried: string[] = [];
  const from: string[] = [];
  for (const job of failed) {
    try {
      const next = await retryJob(ctx, job, { resources });
      retried.push(next.id);
      from.push(job.id);
    } catch (e) {
      // Retried by someone else meanwhile, or its gear is gone: nothing to re-queue.
      if (!(e instanceof ApiError)) throw e;
    }
  }
  return { retried, from };
}
