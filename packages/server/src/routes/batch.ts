import { JOB_PRIORITIES } from '@sprocket/types';
import type { FastifyInstance } from 'fastify';
import { type ServerContext, accessOf } from '../context.js';
import { jobDoc } from '../jobs/docs.js';
import {
  type BatchInput,
  OPTIONAL_INPUT_POLICIES,
  type RetryFailedInput,
  batchDoc,
  batchExtras,
  batchJobs,
  cancelBatch,
  loadBatch,
  proposeBatch,
  retryFailed,
  runBatch,
} from '../jobs/batch.js';
import { NO_CONTROL_CHARACTERS, OBJECT_ID_SCHEMA, TAG, idParams } from './schemas.js';

const proposeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['gear_id', 'targets'],
  properties: {
    gear_id: { type: 'string' },
    targets: {
      type: 'array',
      maxItems: 10000,
      items: { type: 'object', required: ['type', 'id'], properties: { type: { type: 'string' }, id: { type: 'string' } } },
    },
    config: { type: 'object' },
    tags: { type: 'array', items: TAG },
    analysis: { type: 'object', properties: { label: { type: 'string', maxLength: 256, format: NO_CONTROL_CHARACTERS }, description: { type: 'string' } } },
    target_context: { type: 'object' },
    optional_input_policy: { enum: [...OPTIONAL_INPUT_POLICIES] },
    priority: { enum: Object.keys(JOB_PRIORITIES) },
    compute_provider_id: { type: 'string' },
  },
} as const;

const retryBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    exit_codes: { type: 'array', items: { type: 'integer' }, maxItems: 256 },
    memory: { type: 'string' },
  },
} as const;

/** `/batch`: propose, run, cancel, inspect and retry batch runs. */
export async function batchRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;
  const t = { tags: ['batch'] };
  const id = (req: { params: unknown }) => (req.params as { id: string }).id;

  app.post(
    '/batch',
    {
      schema: {
        ...t,
        summary: 'Propose a batch run: which containers under the targets match the gear (ambiguous and not_matched ones say why in reason); dry_run=true stores no batch',
        body: proposeBody,
        querystring: { type: 'object', properties: { dry_run: { type: 'boolean' } } },
      },
    },
    async (req) => proposeBatch(ctx, accessOf(ctx, req), req.body as BatchInput, { dryRun: (req.query as { dry_run?: boolean }).dry_run === true }),
  );

  app.get('/batch', { schema: { ...t, summary: 'Your batches (every batch for site admins)' } }, async (req) => {
    const access = accessOf(ctx, req);
    let q = db.selectFrom('batches').selectAll();
    if (!access.isAdmin) q = q.where('origin_id', '=', access.principal.userId);
    const rows = await q.orderBy('created').orderBy('id').execute();
    if (!rows.length) return [];
    const ids = rows.map((r) => r.id);
    const jobs: { id: string; batch: string | null; state: string }[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      jobs.push(
        ...(await db
          .selectFrom('jobs')
          .select(['id', 'batch', 'state'])
          .where('batch', 'in', ids.slice(i, i + 500))
          .where('retried', 'is', null)
          .orderBy('created')
          .orderBy('id')
          .execute()),
      );
    }
    const byBatch = new Map<string, typeof jobs>();
    for (const j of jobs) byBatch.set(j.batch!, [...(byBatch.get(j.batch!) ?? []), j]);
    const extras = await batchExtras(ctx, rows);
    return rows.map((r) => {
      const list = byBatch.get(r.id) ?? [];
      return batchDoc(
        r,
        list.map((j) => j.id),
        list.map((j) => j.state),
        extras.get(r.id),
      );
    });
  });

  app.get(
    '/batch/:id',
    { schema: { ...t, summary: 'A batch; jobs=true returns job documents instead of ids', params: idParams, querystring: { type: 'object', properties: { jobs: { type: 'boolean' } } } } },
    async (req) => {
      const row = await loadBatch(ctx, accessOf(ctx, req), id(req));
      const jobs = await batchJobs(ctx, row.id);
      const inflate = (req.query as { jobs?: boolean }).jobs === true;
      return batchDoc(
        row,
        inflate ? (jobs.map((j) => jobDoc(j)) as never) : jobs.map((j) => j.id),
        jobs.map((j) => j.state),
        (await batchExtras(ctx, [row])).get(row.id),
      );
    },
  );

  app.post('/batch/:id/run', { schema: { ...t, summary: 'Run a proposed batch: one job per matched container; returns the jobs', params: idParams } }, async (req) => {
    const row = await loadBatch(ctx, accessOf(ctx, req), id(req));
    return (await runBatch(ctx, accessOf(ctx, req), row)).map((j) => jobDoc(j));
  });

  app.post('/batch/:id/cancel', { schema: { ...t, summary: 'Cancel a batch: its queued jobs are cancelled', params: idParams } }, async (req) => {
    const row = await loadBatch(ctx, accessOf(ctx, req), id(req));
    return { number_cancelled: await cancelBatch(ctx, accessOf(ctx, req), row) };
  });

  app.post(
    '/batch/:id/retry-failed',
    {
      schema: {
        ...t,
        summary: "Re-queue a batch's failed jobs (optionally only those with the given exit codes, optionally with more memory)",
        params: { type: 'object', required: ['id'], properties: { id: OBJECT_ID_SCHEMA } },
        body: retryBody,
      },
    },
    async (req) => {
      const row = await loadBatch(ctx, accessOf(ctx, req), id(req));
      const r = await retryFailed(ctx, accessOf(ctx, req), row, (req.body ?? {}) as RetryFailedInput);
      return { number_retried: r.retried.length, jobs: r.retried, retried_from: r.from };
    },
  );

}
