import { Type } from '@sinclair/typebox';
import { apiKeyInputEntry, CONTAINER_TYPES, JOB_PRIORITIES, JOB_STATES, type JobPriority, PLURAL } from '@sprocket/types';
import type { FastifyRequest } from 'fastify';
import { requirePrincipal } from '../auth/authenticate.js';
import { canSeeJob, requireJobControl, requireJobRetry, requireMayLaunch, visibleJobs } from '../auth/job-access.js';
import { isEngine, requireSiteAdmin } from '../auth/principal.js';
import { accessOf, type ServerContext } from '../context.js';
import { getContainer } from '../dao/containers.js';
import { invocationOf, jobStateCounts, jobsLaunchedByQuery, jobsQuery, jobsTouchingQuery } from '../dao/jobs.js';
import { isPlainObject } from '../dao/json.js';
import type { JobsTable } from '../dao/rows.js';
import { apiError, badRequest, forbidden } from '../errors.js';
import { LIST_QUERY, listReply, parseListParams, runList } from '../http/listing.js';
import { replies } from '../http/replies.js';
import type { Api } from '../http/typed.js';
import { jobDetail, jobDoc, jobDocsFor, jobRedactions, jobRequest, redactJobDoc, redactPayload } from '../jobs/docs.js';
import { getGear } from '../jobs/gears.js';
import { jobFieldResolver, stateAndTagQuery } from '../jobs/job-filters.js';
import { mintJobKeys } from '../jobs/keys.js';
import { enqueueJob, type JobSpec, requirePriority } from '../jobs/launch.js';
import { jobListingContainers, nameRuleOrigins } from '../jobs/listing.js';
import { logText, readLog } from '../jobs/logs.js';
import { acceptFailedOutput } from '../jobs/placer.js';
import { changePendingPriority, requireJob, retryJob, transitionJob } from '../jobs/queue.js';
import { idParams, OBJECT_ID_SCHEMA, TAG } from './schemas.js';

const REF = { type: 'object', properties: { type: { type: 'string' }, id: { type: 'string' }, name: { type: 'string' } } } as const;

/** What `POST /jobs/add` takes: the launch spec, and a compute provider this server ignores. */
interface JobAddBody extends JobSpec {
  compute_provider_id?: string;
}

/**
 * `POST /jobs/add` (Flywheel's Job input); the manifest decides what inputs and config may hold.
 * Its static type is the launch spec of jobs/launch.ts, which checks what the schema leaves open.
 */
export const jobAddBody = Type.Unsafe<JobAddBody>({
  type: 'object',
  additionalProperties: false,
  required: ['gear_id'],
  properties: {
    gear_id: OBJECT_ID_SCHEMA,
    inputs: {
      anyOf: [
        { type: 'object', additionalProperties: REF },
        { type: 'array', items: REF },
      ],
    },
    destination: { type: 'object', required: ['type', 'id'], properties: { type: { type: 'string' }, id: { type: 'string' } } },
    config: { type: 'object' },
    tags: { type: 'array', items: TAG },
    label: { type: 'string', maxLength: 256 },
    priority: { enum: Object.keys(JOB_PRIORITIES) },
    resources: { type: 'object' },
    compute_provider_id: { type: 'string' },
  },
});

// Bounded: non-admins reach these lists too, and each filter term becomes SQL (regexes go through RE2).
const LIST_JOBS_QUERY = {
  ...LIST_QUERY,
  filter: Type.Optional(Type.String({ maxLength: 4096 })),
  states: Type.Optional(Type.String({ maxLength: 256 })),
  tags: Type.Optional(Type.String({ maxLength: 4096 })),
};
/** `include=containers`: the reply carries the `containers` map (labels and paths) beside the jobs. */
const INCLUDE_QUERY = { include: Type.Optional(Type.Unsafe<'containers'>({ type: 'string', enum: ['containers'] })) };
const listJobsQuery = Type.Object(LIST_JOBS_QUERY);

export async function loadVisibleJob(ctx: ServerContext, req: FastifyRequest, id: string): Promise<JobsTable> {
  const job = await requireJob(ctx, id);
  if (!(await canSeeJob(ctx.handle, accessOf(ctx, req), job))) throw apiError('JOB_NOT_FOUND', { id });
  return job;
}

export async function jobRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;
  const t = { tags: ['jobs'] };

  app.post('/jobs/add', { schema: { ...t, summary: 'Queue a job (Flywheel add_job)', body: jobAddBody } }, async (req) => {
    const access = accessOf(ctx, req);
    const p = access.principal;
    requireMayLaunch(access);
    const { compute_provider_id: _ignored, ...spec } = req.body;
    const job = await enqueueJob(ctx, spec, {
      access,
      origin: p.jobId ? { type: 'user', id: p.userId, via: { type: 'job', id: p.jobId } } : { type: 'user', id: p.userId },
    });
    return { _id: job.id };
  });

  app.get(
    '/jobs',
    {
      schema: {
        ...t,
        summary:
          'Jobs: every job for site admins; for others the jobs they launched and those on data where they hold jobs_view (rule jobs included). filter, sort, paging; states= and tags= as comma lists; include=containers adds labels and paths',
        querystring: Type.Object({ ...LIST_JOBS_QUERY, ...INCLUDE_QUERY }),
      },
    },
    async (req) => {
      const p = requirePrincipal(req);
      if (isEngine(p)) throw forbidden('engines list no jobs; they ask for work at /jobs/ask');
      const access = accessOf(ctx, req);
      const params = parseListParams(req);
      const include = req.query.include === 'containers';
      const q = await visibleJobs(ctx.handle, access, stateAndTagQuery(ctx.handle, jobsQuery(db), req.query));
      if (!q) return include ? { jobs: [], containers: {} } : listReply(params, [], 0);
      const { rows, total } = await runList(q, params, ctx.handle.dialect, jobFieldResolver, 'jobs.id');
      const jobs = await nameRuleOrigins(ctx.handle, await jobDocsFor(ctx.handle, access, rows));
      if (include) {
        const containers = await jobListingContainers(ctx.handle, jobs);
        return params.envelope ? { jobs, containers, total: total ?? jobs.length } : { jobs, containers };
      }
      return listReply(params, jobs, total);
    },
  );

  app.get('/jobs/stats', { schema: { ...t, summary: 'Job counts by state (site admin)' } }, async (req) => {
    requireSiteAdmin(requirePrincipal(req), 'read');
    const states: Record<string, number> = Object.fromEntries(JOB_STATES.map((s) => [s, 0]));
    for (const [state, n] of await jobStateCounts(db)) states[state] = n;
    return { states };
  });

  app.get('/jobs/:id', { schema: { ...t, params: idParams, response: replies().job } }, async (req) => {
    const job = await loadVisibleJob(ctx, req, req.params.id);
    const gear = await getGear(ctx, job.gear_id);
    const redaction = (await jobRedactions(ctx.handle, accessOf(ctx, req), [job])).get(job.id);
    return redactJobDoc(jobDoc(job, { request: gear && job.state !== 'pending' ? jobRequest(job, gear) : undefined }), redaction);
  });

  app.get(
    '/jobs/:id/detail',
    { schema: { ...t, summary: 'A job with its input and output file entries', params: idParams } },
    async (req) => {
      const job = await loadVisibleJob(ctx, req, req.params.id);
      return jobDetail(ctx.handle, accessOf(ctx, req), job);
    },
  );

  app.get('/jobs/:id/logs', { schema: { ...t, summary: 'The job log as {id, logs: [{fd, msg}]}', params: idParams } }, async (req) => {
    const job = await loadVisibleJob(ctx, req, req.params.id);
    return { id: job.id, logs: await readLog(db, job.id) };
  });

  app.get('/jobs/:id/logs/text', { schema: { ...t, summary: 'The job log as plain text', params: idParams } }, async (req, reply) => {
    const job = await loadVisibleJob(ctx, req, req.params.id);
    return reply.type('text/plain; charset=utf-8').send(logText(await readLog(db, job.id)));
  });

  app.get(
    '/jobs/:id/config.json',
    {
      schema: {
        ...t,
        summary: "The gear's config.json (gear spec §1.8); api-key inputs are minted for the running job's engine",
        params: idParams,
      },
    },
    async (req) => {
      const job = await loadVisibleJob(ctx, req, req.params.id);
      const p = req.principal;
      const redaction = (await jobRedactions(ctx.handle, accessOf(ctx, req), [job])).get(job.id);
      const payload = redactPayload(invocationOf(job), redaction);
      const inputs = isPlainObject(payload.inputs) ? payload.inputs : {};
      if (isEngine(p) && job.state === 'running' && job.device_id === p?.userId) {
        const gear = await getGear(ctx, job.gear_id);
        if (gear)
          for (const [name, key] of Object.entries(await mintJobKeys(ctx, job, gear.manifest))) inputs[name] = apiKeyInputEntry(key);
      }
      return { ...payload, inputs };
    },
  );

  app.put(
    '/jobs/:id',
    {
      schema: {
        ...t,
        summary: 'Cancel a job ({state: cancelled}) or change the priority of a pending one',
        params: idParams,
        body: Type.Object(
          { state: Type.Optional(Type.String()), priority: Type.Optional(Type.Unsafe<JobPriority>({ enum: Object.keys(JOB_PRIORITIES) })) },
          { additionalProperties: false, minProperties: 1 },
        ),
      },
    },
    async (req) => {
      const access = accessOf(ctx, req);
      const { id } = req.params;
      const b = req.body;
      let job = await loadVisibleJob(ctx, req, id);
      if (b.state !== undefined && b.state !== job.state) {
        if (b.state !== 'cancelled')
          throw badRequest(`state: users may only set 'cancelled' (running, complete and failed are set by the engine)`);
        await requireJobControl(ctx.handle, access, job, 'jobs_cancel_any');
        job = await transitionJob(ctx, job, 'cancelled', { log: `Job cancelled by ${access.principal.userId}.` });
      }
      if (b.priority !== undefined && b.priority !== job.priority) {
        await requireJobControl(ctx.handle, access, job, 'jobs_cancel_any');
        const dest = await getContainer(db, job.destination_id);
        await requirePriority(access, dest, b.priority, 'priority');
        await changePendingPriority(ctx, job, b.priority);
      }
      return { modified: 1 };
    },
  );

  app.post(
    '/jobs/:id/retry',
    {
      schema: {
        ...t,
        summary: 'Queue a copy of a failed job (ignoreState=true: also complete or cancelled ones)',
        params: idParams,
        querystring: Type.Object({ ignoreState: Type.Optional(Type.Boolean()), computeProviderId: Type.Optional(Type.String()) }),
      },
    },
    async (req) => {
      const access = accessOf(ctx, req);
      const job = await loadVisibleJob(ctx, req, req.params.id);
      const gear = await getGear(ctx, job.gear_id);
      await requireJobRetry(ctx.handle, access, job, gear?.manifest);
      const next = await retryJob(ctx, job, { ignoreState: req.query.ignoreState === true });
      return { _id: next.id };
    },
  );

  app.post(
    '/jobs/:id/accept-failed-output',
    { schema: { ...t, summary: "Accept a failed job's outputs: unflag them and apply its container metadata", params: idParams } },
    async (req) => {
      const access = accessOf(ctx, req);
      const job = await loadVisibleJob(ctx, req, req.params.id);
      await requireJobControl(ctx.handle, access, job, 'jobs_run_cancel');
      return { accepted: 1, notes: await acceptFailedOutput(ctx, job) };
    },
  );

  // Jobs touching a container: its inputs, its destination, or anything below it.
  for (const type of CONTAINER_TYPES) {
    app.get(
      `/${PLURAL[type]}/:id/jobs`,
      {
        schema: {
          tags: [PLURAL[type], 'jobs'],
          summary: `Jobs whose inputs or outputs touch a ${type} or anything below it, whoever launched them, as {jobs, containers}`,
          params: idParams,
          querystring: listJobsQuery,
        },
      },
      async (req) => {
        const access = accessOf(ctx, req);
        const row = await access.requireContainer(type, req.params.id, 'jobs_view');
        const params = parseListParams(req);
        const q = stateAndTagQuery(ctx.handle, jobsTouchingQuery(db, row.id), req.query);
        const { rows, total } = await runList(q, params, ctx.handle.dialect, jobFieldResolver, 'jobs.id');
        // Every job on data the reader may see, whoever launched it (a user, a rule, a batch); what
        // of it they may not see is redacted, and so left out of the containers map.
        const jobs = await nameRuleOrigins(ctx.handle, await jobDocsFor(ctx.handle, access, rows));
        const containers = await jobListingContainers(ctx.handle, jobs);
        return params.envelope ? { jobs, containers, total: total ?? jobs.length } : { jobs, containers };
      },
    );
  }

  app.get(
    '/users/self/jobs',
    {
      schema: {
        tags: ['users', 'jobs'],
        summary: 'Jobs you launched, with counts by state',
        querystring: Type.Object({ ...LIST_JOBS_QUERY, gear: Type.Optional(Type.String()) }),
      },
    },
    async (req) => {
      const p = requirePrincipal(req);
      if (isEngine(p)) throw forbidden('engines have no jobs of their own');
      const { gear } = req.query;
      const stats: Record<string, number> = Object.fromEntries(JOB_STATES.map((s) => [s, 0]));
      let total = 0;
      for (const [state, n] of await jobStateCounts(db, { userId: p.userId, gear })) {
        stats[state] = n;
        total += n;
      }
      const params = parseListParams(req);
      if (!params.sort.length && params.afterId === undefined) params.sort = [{ key: 'created', dir: 'desc' }];
      const { rows } = await runList(
        stateAndTagQuery(ctx.handle, jobsLaunchedByQuery(db, p.userId, gear), req.query),
        { ...params, envelope: false },
        ctx.handle.dialect,
        jobFieldResolver,
      );
      const jobs = await nameRuleOrigins(ctx.handle, await jobDocsFor(ctx.handle, accessOf(ctx, req), rows));
      return { stats, total, jobs, containers: await jobListingContainers(ctx.handle, jobs) };
    },
  );
}
