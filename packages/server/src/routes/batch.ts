import { Type } from '@sinclair/typebox';
import { JOB_PRIORITIES, type JobPriority } from '@sprocket/types';
import { ownerScope } from '../auth/principal.js';
import { accessOf, type ServerContext } from '../context.js';
import { batchesOf } from '../dao/batches.js';
import { batchJobStates } from '../dao/jobs.js';
import type { Api } from '../http/typed.js';
import {
  batchDoc,
  batchExtras,
  batchJobs,
  cancelBatch,
  loadBatch,
  OPTIONAL_INPUT_POLICIES,
  proposeBatch,
  retryFailed,
  runBatch,
} from '../jobs/batch.js';
import { jobDoc } from '../jobs/docs.js';
import { idParams, JSON_OBJECT, NO_CONTROL_CHARACTERS, TAGS } from './schemas.js';

const proposeBody = Type.Object(
  {
    gear_id: Type.String(),
    targets: Type.Array(Type.Object({ type: Type.String(), id: Type.String() }), { maxItems: 10000 }),
    config: Type.Optional(JSON_OBJECT),
    tags: Type.Optional(TAGS),
    analysis: Type.Optional(
      Type.Object({
        label: Type.Optional(Type.String({ maxLength: 256, format: NO_CONTROL_CHARACTERS })),
        description: Type.Optional(Type.String()),
      }),
    ),
    target_context: Type.Optional(JSON_OBJECT),
    // Bare enums (no `type`), as before: the validator's message for them names the allowed values.
    optional_input_policy: Type.Optional(Type.Unsafe<(typeof OPTIONAL_INPUT_POLICIES)[number]>({ enum: [...OPTIONAL_INPUT_POLICIES] })),
    priority: Type.Optional(Type.Unsafe<JobPriority>({ enum: Object.keys(JOB_PRIORITIES) })),
    compute_provider_id: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

const retryBody = Type.Object(
  { exit_codes: Type.Optional(Type.Array(Type.Integer(), { maxItems: 256 })), memory: Type.Optional(Type.String()) },
  { additionalProperties: false },
);

/** `/batch`: propose, run, cancel, inspect and retry batch runs. */
export async function batchRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;
  const t = { tags: ['batch'] };

  app.post(
    '/batch',
    {
      schema: {
        ...t,
        summary:
          'Propose a batch run: which containers under the targets match the gear (ambiguous and not_matched ones say why in reason); dry_run=true stores no batch',
        body: proposeBody,
        querystring: Type.Object({ dry_run: Type.Optional(Type.Boolean()) }),
      },
    },
    async (req) => proposeBatch(ctx, accessOf(ctx, req), req.body, { dryRun: req.query.dry_run === true }),
  );

  app.get('/batch', { schema: { ...t, summary: 'Your batches (every batch for site admins)' } }, async (req) => {
    const access = accessOf(ctx, req);
    const rows = await batchesOf(db, ownerScope(access.principal));
    if (!rows.length) return [];
    const byBatch = await batchJobStates(
      db,
      rows.map((r) => r.id),
    );
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
    {
      schema: {
        ...t,
        summary: 'A batch; jobs=true returns job documents instead of ids',
        params: idParams,
        querystring: Type.Object({ jobs: Type.Optional(Type.Boolean()) }),
      },
    },
    async (req) => {
      const row = await loadBatch(ctx, accessOf(ctx, req), req.params.id);
      const jobs = await batchJobs(ctx, row.id);
      const inflate = req.query.jobs === true;
      return batchDoc(
        row,
        inflate ? (jobs.map((j) => jobDoc(j)) as never) : jobs.map((j) => j.id),
        jobs.map((j) => j.state),
        (await batchExtras(ctx, [row])).get(row.id),
      );
    },
  );

  app.post(
    '/batch/:id/run',
    { schema: { ...t, summary: 'Run a proposed batch: one job per matched container; returns the jobs', params: idParams } },
    async (req) => {
      const row = await loadBatch(ctx, accessOf(ctx, req), req.params.id);
      return (await runBatch(ctx, accessOf(ctx, req), row)).map((j) => jobDoc(j));
    },
  );

  app.post(
    '/batch/:id/cancel',
    { schema: { ...t, summary: 'Cancel a batch: its queued jobs are cancelled', params: idParams } },
    async (req) => {
      const row = await loadBatch(ctx, accessOf(ctx, req), req.params.id);
      return { number_cancelled: await cancelBatch(ctx, accessOf(ctx, req), row) };
    },
  );

  app.post(
    '/batch/:id/retry-failed',
    {
      schema: {
        ...t,
        summary: "Re-queue a batch's failed jobs (optionally only those with the given exit codes, optionally with more memory)",
        params: idParams,
        body: retryBody,
      },
    },
    async (req) => {
      const row = await loadBatch(ctx, accessOf(ctx, req), req.params.id);
      const r = await retryFailed(ctx, accessOf(ctx, req), row, req.body ?? {});
      return { number_retried: r.retried.length, jobs: r.retried, retried_from: r.from };
    },
  );
}
