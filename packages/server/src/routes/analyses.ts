import { Type } from '@sinclair/typebox';
import { type ContainerType, PLURAL } from '@sprocket/types';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccessContext } from '../auth/access.js';
import { redactAnalysisInputs } from '../auth/visibility.js';
import { accessOf, type ServerContext } from '../context.js';
import { analysesBelowQuery, analysesOfQuery, containerDoc, containerFieldResolver, currentFiles } from '../dao/containers.js';
import { fileDoc, getCurrentFile } from '../dao/files.js';
import { chainBelow, insertContainer } from '../dao/hierarchy.js';
import { jobsByIds } from '../dao/jobs.js';
import { isPlainObject, type JsonObject } from '../dao/json.js';
import type { ContainersTable } from '../dao/rows.js';
import { apiError, badRequest } from '../errors.js';
import { queryFlag } from '../http/guards.js';
import { LIST_QUERY, listReply, parseListParams, runList } from '../http/listing.js';
import type { Api } from '../http/typed.js';
import { createJobAnalysis } from '../jobs/analyses.js';
import { jobDocsFor } from '../jobs/docs.js';
import { analysisCreateBody } from './container-bodies.js';
import { idParams, OBJECT_ID_SCHEMA } from './schemas.js';

/**
 * Flywheel's `?inflate_job=true`: each analysis's `job` (the job id) becomes the job document, as
 * the reader may see it (redacted like every job document), so `analysis.job.id` works in the SDK.
 * An id whose job is gone stays an id.
 */
export async function inflateJobs(ctx: ServerContext, access: AccessContext, docs: JsonObject[]): Promise<JsonObject[]> {
  const ids = [...new Set(docs.map((d) => d.job).filter((j): j is string => typeof j === 'string'))];
  if (!ids.length) return docs;
  const rows = await jobsByIds(ctx.handle.db, ids);
  const jobs = new Map((await jobDocsFor(ctx.handle, access, rows)).map((j) => [String(j.id ?? j._id), j]));
  for (const d of docs) if (typeof d.job === 'string' && jobs.has(d.job)) d.job = jobs.get(d.job)!;
  return docs;
}

export const INFLATE_QUERY = {
  inflate_job: Type.Optional(Type.Boolean({ description: "replace each analysis's job id with the job document" })),
};

/**
 * `GET /analyses/{id}` is served with the other containers (routes/containers.ts); its `?inflate_job`
 * is applied here, to the document on its way out, so the container routes need not know about jobs.
 */
export function registerAnalysisJobInflation(app: FastifyInstance, ctx: ServerContext): void {
  app.addHook('preSerialization', async (req: FastifyRequest, _reply, payload: unknown) => {
    if (req.method !== 'GET' || req.routeOptions.url !== '/api/analyses/:id') return payload;
    // A hook over every route: the query is whatever this request's route parsed, so it is looked into, not assumed.
    const query: unknown = req.query;
    if (!queryFlag(isPlainObject(query) ? query.inflate_job : undefined)) return payload;
    const doc = payload as JsonObject;
    if (doc?.container_type !== 'analysis') return payload;
    await inflateJobs(ctx, accessOf(ctx, req), [doc]);
    return doc;
  });
}

/** Which analyses `GET /{cont}/{id}/{child}/analyses` lists: those hung off that kind of child, or `all` below (and on) the container. */
const CHILD_ANALYSES: Record<Exclude<ContainerType, 'analysis'>, (ContainerType | 'all')[]> = {
  project: ['subject', 'session', 'acquisition', 'all'],
  subject: ['session', 'acquisition', 'all'],
  session: ['acquisition', 'all'],
  acquisition: ['all'],
};

const CHAIN_COLUMN = { project: 'project_id', subject: 'subject_id', session: 'session_id', acquisition: 'acquisition_id' } as const;

/** Analyses hung off a container: ad-hoc ones here, job-based ones through jobs/analyses.ts. */
export async function analysisRoutes(app: Api, ctx: ServerContext, type: ContainerType): Promise<void> {
  const { db } = ctx.handle;
  const plural = PLURAL[type];
  const t = { tags: [plural] };

  /** One page of analysis documents for a reader: files, redacted inputs, and jobs when asked to inflate them. */
  async function analysisPage(inflateJob: boolean | undefined, access: AccessContext, rows: ContainersTable[]): Promise<JsonObject[]> {
    const files = await currentFiles(
      db,
      rows.map((r) => r.id),
    );
    const docs = await redactAnalysisInputs(
      ctx.handle,
      access,
      rows.map((r) => containerDoc(r, files.get(r.id) ?? [], { withInfo: false })),
    );
    return inflateJob ? inflateJobs(ctx, access, docs) : docs;
  }

  const listQuery = Type.Object({ ...LIST_QUERY, ...INFLATE_QUERY });

  app.get(
    `/${plural}/:id/analyses`,
    { schema: { ...t, summary: `Analyses of a ${type}`, params: idParams, querystring: listQuery } },
    async (req) => {
      const access = accessOf(ctx, req);
      const parent = await access.requireContainer(type, req.params.id, 'analyses_view_metadata');
      const params = parseListParams(req);
      const q = analysesOfQuery(db, parent.id);
      const { rows, total } = await runList(q, params, ctx.handle.dialect, containerFieldResolver('analysis'));
      return listReply(params, await analysisPage(req.query.inflate_job, access, rows), total);
    },
  );

  if (type !== 'analysis') {
    for (const child of CHILD_ANALYSES[type]) {
      const segment = child === 'all' ? 'all' : PLURAL[child];
      const summary =
        child === 'all' ? `Analyses of a ${type} and of everything below it` : `Analyses of the ${PLURAL[child]} of a ${type}`;
      app.get(
        `/${plural}/:id/${segment}/analyses`,
        { schema: { ...t, summary, params: idParams, querystring: listQuery } },
        async (req) => {
          const access = accessOf(ctx, req);
          // Permissions are per project, so the right to see this container's analyses is the right to see all below it.
          const parent = await access.requireContainer(type, req.params.id, 'analyses_view_metadata');
          const params = parseListParams(req);
          const q = analysesBelowQuery(db, CHAIN_COLUMN[type], parent.id, child === 'all' ? undefined : child);
          const { rows, total } = await runList(q, params, ctx.handle.dialect, containerFieldResolver('analysis'));
          return listReply(params, await analysisPage(req.query.inflate_job, access, rows), total);
        },
      );
    }
  }

  app.get(
    `/${plural}/:id/analyses/:aid`,
    {
      schema: {
        ...t,
        params: Type.Object({ id: OBJECT_ID_SCHEMA, aid: OBJECT_ID_SCHEMA }),
        querystring: Type.Object(INFLATE_QUERY),
      },
    },
    async (req) => {
      const access = accessOf(ctx, req);
      const { id, aid } = req.params;
      const row = await access.requireContainer('analysis', aid, 'analyses_view_metadata');
      if (row.parent_id !== id) throw apiError('ANALYSIS_NOT_FOUND', { id: aid, type, parent: id });
      const files = (await currentFiles(db, [row.id])).get(row.id) ?? [];
      const doc = containerDoc(row, files, { withInfo: true });
      await redactAnalysisInputs(ctx.handle, access, [doc]);
      if (req.query.inflate_job) await inflateJobs(ctx, access, [doc]);
      return doc;
    },
  );

  app.post(
    `/${plural}/:id/analyses`,
    { schema: { ...t, summary: `Create an analysis under a ${type}`, params: idParams, body: analysisCreateBody } },
    async (req) => {
      const access = accessOf(ctx, req);
      const b = req.body;
      const { id } = req.params;
      if (b.job) {
        const parent = await access.requireContainer(type, id, 'analyses_create_job');
        const { _id } = await createJobAnalysis(ctx, access, parent, b);
        return { _id };
      }
      const parent = await access.requireContainer(type, id, 'analyses_create_sdk');
      const inputs = [];
      for (const [i, ref] of (b.inputs ?? []).entries()) {
        const holder = await access.requireContainer(ref.type, ref.id, 'files_view_metadata').catch(() => {
          throw badRequest(`body.inputs[${i}]: ${ref.type} ${ref.id} not found`);
        });
        const f = await getCurrentFile(db, holder.id, ref.name);
        if (!f) throw badRequest(`body.inputs[${i}]: file '${ref.name}' not found on ${ref.type} ${ref.id}`);
        inputs.push(fileDoc(f, holder, true));
      }
      const row = await insertContainer(db, {
        type: 'analysis',
        label: b.label,
        chain: chainBelow(parent),
        parentType: type,
        parentId: parent.id,
        info: b.info,
        tags: b.tags,
        fields: { description: b.description ?? '', inputs, user: access.principal.userId },
      });
      return { _id: row.id };
    },
  );
}
