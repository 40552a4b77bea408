import { Type } from '@sinclair/typebox';
import { type AskBody, type ClusterState, type FinishBody, type JobLogLine, LOG_FD } from '@sprocket/types';
import type { FastifyRequest } from 'fastify';
import { requirePrincipal } from '../auth/authenticate.js';
import { isEngine, type Principal, requireSiteAdmin } from '../auth/principal.js';
import type { ServerContext } from '../context.js';
import { deviceDocs, disableDevice } from '../dao/devices.js';
import { jobStateCounts } from '../dao/jobs.js';
import { apiError, badRequest, forbidden } from '../errors.js';
import type { Api } from '../http/typed.js';
import { now } from '../ids.js';
import { jobDoc, jobRequest } from '../jobs/docs.js';
import { getGear } from '../jobs/gears.js';
import { createDevice, issueEngineKey } from '../jobs/keys.js';
import { placeEngineUpload } from '../jobs/placer.js';
import {
  appendRunningLog,
  claimJobs,
  finishJob,
  issueCompletionTicket,
  mergeRunningProfile,
  recordClusterState,
  requireJob,
} from '../jobs/queue.js';
import { idParams, JSON_OBJECT } from './schemas.js';

/** Engine routes (docs/engine-protocol.md); `config.engine` lets device keys through the engine guard. */
const ENGINE = { engine: true } as const;

function requireEngine(req: FastifyRequest): Principal {
  const p = requirePrincipal(req);
  if (!isEngine(p)) throw forbidden('this route is for engines (an engine key from POST /devices)');
  return p;
}

const LIST = { type: 'array', items: { type: 'string' } } as const;
const LOG_LINE = { type: 'object', required: ['fd', 'msg'], properties: { fd: { type: 'integer' }, msg: { type: 'string' } } } as const;
const SELECTOR = { type: 'object', properties: { 'gear-name': LIST, tag: LIST, group: LIST, 'compute-provider': LIST } } as const;

// Typed by the engine protocol's one definition (@sprocket/types), which the engine sends.
const askBody = Type.Unsafe<AskBody>({
  type: 'object',
  additionalProperties: false,
  properties: {
    capabilities: LIST,
    return: {
      type: 'object',
      properties: { jobs: { type: 'integer', minimum: 1, maximum: 100 }, peek: { type: 'boolean' }, states: { type: 'boolean' } },
    },
    engine: { type: 'string', maxLength: 256 },
    whitelist: SELECTOR,
    blacklist: SELECTOR,
    wait: { type: 'number', minimum: 0, maximum: 60 },
  },
});

const clusterBody = Type.Unsafe<ClusterState>({
  type: 'object',
  additionalProperties: false,
  required: ['scheduler', 'job_id', 'state', 'summary', 'updated'],
  properties: {
    scheduler: { type: 'string', enum: ['slurm'] },
    job_id: { type: 'string', minLength: 1, maxLength: 64 },
    state: { type: 'string', minLength: 1, maxLength: 64 },
    reason: { type: 'string', maxLength: 256 },
    summary: { type: 'string', maxLength: 2000 },
    updated: { type: 'string', maxLength: 64 },
  },
});

const finishBody = Type.Unsafe<FinishBody>({
  type: 'object',
  additionalProperties: false,
  required: ['success'],
  properties: {
    success: { type: 'boolean' },
    exit_code: { type: ['integer', 'null'] },
    failure_reason: { type: ['string', 'null'], maxLength: 2000 },
    elapsed: { type: 'number' },
    profile: { type: 'object' },
    // complete only: the engine's last log lines, stored with the transition (one request fewer).
    logs: { type: 'array', maxItems: 100000, items: LOG_LINE },
  },
});

export async function engineRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;
  const t = { tags: ['engine'] };
  const heartbeatSlackMs = (ctx.config.jobHeartbeatTimeout * 1000) / 20;

  app.post(
    '/devices',
    {
      schema: {
        tags: ['devices'],
        summary: 'Register an engine (site admin): returns its key, shown only once',
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false }),
      },
    },
    async (req) => {
      requireSiteAdmin(requirePrincipal(req));
      const id = await createDevice(db, req.body.name);
      return { _id: id, key: await issueEngineKey(db, ctx.config.publicUrl, id) };
    },
  );

  app.get('/devices', { schema: { tags: ['devices'], summary: 'Registered engines (site admin)' } }, async (req) => {
    requireSiteAdmin(requirePrincipal(req), 'read');
    return deviceDocs(db);
  });

  app.delete(
    '/devices/:id',
    { schema: { tags: ['devices'], summary: 'Disable an engine and revoke its keys (site admin)', params: idParams } },
    async (req) => {
      requireSiteAdmin(requirePrincipal(req));
      const { id } = req.params;
      if (!(await disableDevice(db, id))) throw apiError('DEVICE_NOT_FOUND', { id });
      return { deleted: 1 };
    },
  );

  app.post(
    '/jobs/ask',
    { config: ENGINE, schema: { ...t, summary: 'Claim pending jobs (long-polls up to `wait` seconds)', body: askBody } },
    async (req, reply) => {
      const p = requireEngine(req);
      const b = req.body ?? {};
      if (b.return?.peek) throw badRequest('return.peek: peeking is not supported; claim with POST /jobs/ask');
      // A client that hangs up while waiting must not be handed jobs it will never see.
      const abort = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) abort.abort();
      });
      const jobs = await claimJobs(
        ctx,
        { deviceId: p.userId, claimedBy: b.engine || p.email },
        { capabilities: b.capabilities ?? [], limit: b.return?.jobs ?? 1, whitelist: b.whitelist, blacklist: b.blacklist },
        Math.round((b.wait ?? 0) * 1000),
        abort.signal,
      );
      const out = [];
      for (const j of jobs) {
        const gear = await getGear(ctx, j.gear_id);
        out.push(jobDoc(j, { request: gear ? jobRequest(j, gear) : undefined }));
      }
      if (!b.return?.states) return { jobs: out };
      return { jobs: out, states: Object.fromEntries(await jobStateCounts(db)) };
    },
  );

  app.post(
    '/jobs/:id/logs',
    {
      config: ENGINE,
      schema: {
        ...t,
        summary: 'Append log lines; the heartbeat of a running job. Answers {state}',
        params: idParams,
        body: Type.Unsafe<JobLogLine[]>({ type: 'array', maxItems: 100000, items: LOG_LINE }),
      },
    },
    async (req) => {
      const p = requireEngine(req);
      const job = await requireJob(ctx, req.params.id);
      if (job.device_id !== p.userId) throw apiError('JOB_NOT_CLAIMED', { id: job.id });
      const lines = req.body.map((l) => ({ fd: l.fd === LOG_FD.system ? LOG_FD.system : l.fd, msg: l.msg }));
      // A job's log is the engine's to write only while the job runs; after that it is a record.
      // An empty heartbeat still answers the state: that is how the engine learns of a cancel.
      if (lines.length && job.state !== 'running')
        throw apiError('JOB_STATE', { id: job.id, state: job.state, reason: 'its log takes lines only while it runs' });
      const stamp = now();
      // A heartbeat much fresher than the timeout needs no write; lines and heartbeat commit together.
      const beat = job.state === 'running' && (!job.heartbeat || Date.parse(stamp) - Date.parse(job.heartbeat) > heartbeatSlackMs);
      if (lines.length || beat) {
        const stillRunning = await appendRunningLog(ctx, job, p.userId, lines, beat ? stamp : undefined);
        if (!stillRunning) {
          const current = await requireJob(ctx, job.id);
          if (lines.length)
            throw apiError('JOB_STATE', { id: job.id, state: current.state, reason: 'its log takes lines only while it runs' });
          return { state: current.state };
        }
      }
      return { state: job.state };
    },
  );

  app.post(
    '/jobs/:id/prepare-complete',
    { config: ENGINE, schema: { ...t, summary: 'Get the ticket for uploading outputs', params: idParams, body: finishBody } },
    async (req) => {
      const p = requireEngine(req);
      const job = await requireJob(ctx, req.params.id);
      const b = req.body;
      if (job.device_id !== p.userId) throw apiError('JOB_NOT_CLAIMED', { id: job.id });
      return { ticket: await issueCompletionTicket(ctx, job, p.userId, b) };
    },
  );

  app.post(
    '/engine',
    {
      config: ENGINE,
      schema: {
        ...t,
        summary: 'Upload job outputs (multipart file parts + metadata field = .metadata.json)',
        consumes: ['multipart/form-data'],
        querystring: Type.Object({
          level: Type.Optional(Type.String()),
          id: Type.Optional(Type.String()),
          job: Type.Optional(Type.String()),
          job_ticket: Type.Optional(Type.String()),
        }),
      },
    },
    async (req) => {
      const p = requireEngine(req);
      return placeEngineUpload(ctx, req, req.query, p.userId);
    },
  );

  app.post(
    '/jobs/:id/complete',
    {
      config: ENGINE,
      schema: {
        ...t,
        summary: 'Finish a running job: complete or failed',
        params: idParams,
        body: finishBody,
        querystring: Type.Object({ job_ticket_id: Type.Optional(Type.String()) }),
      },
    },
    async (req) => {
      const p = requireEngine(req);
      const job = await requireJob(ctx, req.params.id);
      const b = req.body;
      const ticket = req.query.job_ticket_id;
      if (ticket && ticket !== job.ticket) throw badRequest('job_ticket_id: does not match the ticket prepare-complete issued');
      const done = await finishJob(ctx, job, b, p.userId);
      return { id: done.id, state: done.state };
    },
  );

  app.put(
    '/jobs/:id/profile',
    {
      config: ENGINE,
      schema: { ...t, summary: 'Record executor and version details of a running job', params: idParams, body: JSON_OBJECT },
    },
    async (req) => {
      const p = requireEngine(req);
      const job = await requireJob(ctx, req.params.id);
      if (job.device_id !== p.userId) throw apiError('JOB_NOT_CLAIMED', { id: job.id });
      await mergeRunningProfile(ctx, job, p.userId, req.body);
      return { modified: 1 };
    },
  );

  app.put(
    '/jobs/:id/cluster',
    {
      config: ENGINE,
      schema: {
        ...t,
        summary: "Record where a job stands on the batch cluster (Slurm) its engine handed it to; shown as the job's cluster",
        params: idParams,
        body: clusterBody,
      },
    },
    async (req) => {
      const p = requireEngine(req);
      const job = await requireJob(ctx, req.params.id);
      if (job.device_id !== p.userId) throw apiError('JOB_NOT_CLAIMED', { id: job.id });
      await recordClusterState(ctx, job, p.userId, req.body);
      return { modified: 1 };
    },
  );

  // Long polls must not hold the server open on shutdown.
  app.addHook('preClose', async () => {
    ctx.notifier.close();
  });
}
