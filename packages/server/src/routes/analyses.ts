import { type ContainerType, PLURAL } from '@sprocket/types';
import type { FastifyInstance } from 'fastify';
import { type ServerContext, accessOf } from '../context.js';
import { redactAnalysisInputs } from '../auth/visibility.js';
import { containerDoc, currentFiles } from '../dao/containers.js';
import { fileDoc, getCurrentFile } from '../dao/files.js';
import { chainBelow, insertContainer } from '../dao/hierarchy.js';
import { badRequest, notFound } from '../errors.js';
import { LIST_QUERY, listReply, parseListParams, runList } from '../http/listing.js';
import { containerFieldResolver } from '../dao/containers.js';
import { analysisCreateBody } from './container-bodies.js';
import { OBJECT_ID_SCHEMA, idParams } from './schemas.js';

interface AnalysisBody {
  label: string;
  description?: string;
  info?: Record<string, unknown>;
  tags?: string[];
  inputs?: { type: string; id: string; name: string }[];
  job?: Record<string, unknown>;
}

/** Analyses hung off a container: ad-hoc ones here, job-based ones through `ctx.hooks.analysisJobCreator`. */
export async function analysisRoutes(app: FastifyInstance, ctx: ServerContext, type: ContainerType): Promise<void> {
  const { db } = ctx.handle;
  const plural = PLURAL[type];
  const t = { tags: [plural] };

  app.get(`/${plural}/:id/analyses`, { schema: { ...t, summary: `Analyses of a ${type}`, params: idParams, querystring: { type: 'object', properties: LIST_QUERY } } }, async (req) => {
    const access = accessOf(ctx, req);
    const parent = await access.requireContainer(type, (req.params as { id: string }).id, 'analyses_view_metadata');
    const params = parseListParams(req);
    const q = db.selectFrom('containers').selectAll().where('type', '=', 'analysis').where('parent_id', '=', parent.id);
    const { rows, total } = await runList(q, params, ctx.handle.dialect, containerFieldResolver('analysis'));
    const files = await currentFiles(db, rows.map((r) => r.id));
    const docs = rows.map((r) => containerDoc(r, files.get(r.id) ?? [], { withInfo: false }));
    return listReply(params, await redactAnalysisInputs(ctx.handle, access, docs), total);
  });

  app.get(
    `/${plural}/:id/analyses/:aid`,
    { schema: { ...t, params: { type: 'object', required: ['id', 'aid'], properties: { id: OBJECT_ID_SCHEMA, aid: OBJECT_ID_SCHEMA } } } },
    async (req) => {
      const access = accessOf(ctx, req);
      const { id, aid } = req.params as { id: string; aid: string };
      const row = await access.requireContainer('analysis', aid, 'analyses_view_metadata');
      if (row.parent_id !== id) throw notFound(`analysis ${aid} under ${type} ${id}`);
      const files = (await currentFiles(db, [row.id])).get(row.id) ?? [];
      const doc = containerDoc(row, files, { withInfo: true });
      await redactAnalysisInputs(ctx.handle, access, [doc]);
      return doc;
    },
  );

  app.post(`/${plural}/:id/analyses`, { schema: { ...t, summary: `Create an analysis under a ${type}`, params: idParams, body: analysisCreateBody } }, async (req) => {
    const access = accessOf(ctx, req);
    const b = req.body as AnalysisBody;
    const { id } = req.params as { id: string };
    if (b.job) {
      if (!ctx.hooks.analysisJobCreator) throw badRequest('job-based analyses need the jobs module');
      const parent = await access.requireContainer(type, id, 'analyses_create_job');
      return ctx.hooks.analysisJobCreator(req, parent, b as unknown as Record<string, unknown>);
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
  });
}
