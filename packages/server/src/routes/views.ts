import { Readable } from 'node:stream';
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { requireViewManage, requireViewRead } from '../auth/view-access.js';
import { accessOf, type ServerContext } from '../context.js';
import { getContainer } from '../dao/containers.js';
import { deleteView, getView, insertView, updateView, viewDoc, viewSpecOf, viewsOf } from '../dao/data-views.js';
import type { JsonObject } from '../dao/json.js';
import type { DataViewsTable } from '../dao/rows.js';
import { apiError, badRequest } from '../errors.js';
import { parseFilter } from '../http/filters.js';
import type { Api } from '../http/typed.js';
import { checkView, evaluateView, planView } from '../views/evaluate.js';
import { CONTENT_TYPE, columnsOf, formatRows, VIEW_FORMATS, type ViewFormat } from '../views/format.js';
import { observedColumns } from '../views/observed-columns.js';
import { type DataViewSpec, dataViewPatchSchema, dataViewSchema, storedSpec } from '../views/spec.js';
import { OBJECT_ID_SCHEMA } from './schemas.js';

const evalQuery = Type.Object({
  containerId: OBJECT_ID_SCHEMA,
  format: Type.Optional(Type.Unsafe<ViewFormat>({ type: 'string', enum: [...VIEW_FORMATS] })),
  filter: Type.Optional(Type.String()),
  skip: Type.Optional(Type.Integer({ minimum: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 0 })),
});
type EvalQuery = Static<typeof evalQuery>;
const viewParams = Type.Object({ vid: OBJECT_ID_SCHEMA });
const containerParams = Type.Object({ cid: Type.String({ minLength: 1, maxLength: 256 }) });
// The view spec's schema (views/spec.ts) with the type it describes.
const viewBody = Type.Unsafe<DataViewSpec>(dataViewSchema);
/** The same schema for saving, where the body is kept as the document it is (storedSpec strips ids). */
const viewSaveBody = Type.Unsafe<JsonObject>(dataViewSchema);
const viewPatchBody = Type.Unsafe<JsonObject>(dataViewPatchSchema);

/** Column aliases offered to clients building views (GET /views/columns). */
const COLUMN_ALIASES = [
  ...['project', 'subject', 'session', 'acquisition'].flatMap((l) => [
    { name: `${l}.id`, description: `${l} id`, type: 'string' },
    { name: `${l}.label`, description: `${l} label`, type: 'string' },
    { name: `${l}.info`, description: `${l} info (flattened)`, type: 'object' },
  ]),
  { name: 'subject.sex', description: 'subject sex', type: 'string' },
  { name: 'subject.age', description: 'subject age (seconds)', type: 'int' },
  { name: 'session.timestamp', description: 'session timestamp', type: 'string' },
  { name: 'acquisition.timestamp', description: 'acquisition timestamp', type: 'string' },
  { name: 'file.name', description: 'file name', type: 'string' },
  { name: 'file.type', description: 'file type', type: 'string' },
  { name: 'file.size', description: 'file size in bytes', type: 'int' },
  { name: 'file.modality', description: 'file modality', type: 'string' },
  { name: 'file.classification', description: 'file classification (flattened)', type: 'object' },
  { name: 'file.info', description: 'file info (flattened)', type: 'object' },
  { name: 'analysis.id', description: 'analysis id (with fileSpec.analysisFilter)', type: 'string' },
  { name: 'analysis.label', description: 'analysis label (with fileSpec.analysisFilter)', type: 'string' },
  { name: 'analysis.gear_info.name', description: 'gear that made the analysis', type: 'string' },
  { name: 'analysis.gear_info.version', description: 'version of that gear', type: 'string' },
];

export async function viewRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;
  const t = { tags: ['views'] };

  async function run(req: FastifyRequest, q: EvalQuery, reply: FastifyReply, view: DataViewSpec): Promise<FastifyReply> {
    const access = accessOf(ctx, req);
    const target = await getContainer(db, q.containerId);
    if (!target) throw apiError('CONTAINER_NOT_FOUND', { type: 'container', id: q.containerId });
    await access.check(target, 'data_views_view');
    const terms = q.filter ? parseFilter(q.filter) : [];
    const format = q.format ?? 'json';
    const page = async function* () {
      let i = 0;
      for await (const row of evaluateView(ctx, access, view, target, terms)) {
        if (i++ < (q.skip ?? 0)) continue;
        if (q.limit !== undefined && i - (q.skip ?? 0) > q.limit) return;
        yield row;
      }
    };
    // Check the view before any byte is sent, so a bad one gets a 400, not a cut-off stream. Views
    // that read files run once first for the same reason: a file too large or unreadable, or too
    // many records, is refused with a 4xx naming the file instead of cutting the answer short.
    const plan = planView(view, target);
    const tabular = format !== 'json' && format !== 'json-flat';
    const planned = [...plan.columns, ...(plan.fileColumns ?? [])].map((c) => c.dst ?? c.src);
    const columns = tabular || plan.processFiles ? await columnsOf(page(), planned) : undefined;
    void reply.type(CONTENT_TYPE[format]);
    if (format === 'csv' || format === 'tsv') void reply.header('Content-Disposition', `attachment; filename="view.${format}"`);
    return reply.send(Readable.from(formatRows(format, page(), columns)));
  }

  async function loadView(req: FastifyRequest, vid: string): Promise<DataViewsTable> {
    const v = await getView(db, vid);
    if (!v) throw apiError('VIEW_NOT_FOUND', { id: vid });
    await requireViewRead(db, accessOf(ctx, req), v.parent).catch(() => {
      throw apiError('VIEW_NOT_FOUND', { id: vid });
    });
    return v;
  }

  app.get(
    '/views/columns',
    {
      schema: {
        ...t,
        summary: "Known column aliases; with containerId also the info and classification keys that occur in that container's project",
        querystring: Type.Object({ containerId: Type.Optional(OBJECT_ID_SCHEMA) }),
      },
    },
    async (req) => {
      const access = accessOf(ctx, req);
      if (!req.query.containerId) return COLUMN_ALIASES;
      const target = await getContainer(db, req.query.containerId);
      if (!target) throw apiError('CONTAINER_NOT_FOUND', { type: 'container', id: req.query.containerId });
      await access.check(target, 'data_views_view');
      return [...COLUMN_ALIASES, ...(await observedColumns(db, target.project_id ?? target.id))];
    },
  );

  app.post(
    '/views/data',
    { schema: { ...t, summary: 'Run an ad-hoc data view over a container', querystring: evalQuery, body: viewBody } },
    (req, reply) => run(req, req.query, reply, req.body),
  );

  app.get(
    '/views/:vid/data',
    { schema: { ...t, summary: 'Run a saved data view over a container', params: viewParams, querystring: evalQuery } },
    async (req, reply) => run(req, req.query, reply, viewSpecOf<DataViewSpec>(await loadView(req, req.params.vid), { columns: [] })),
  );

  app.post(
    '/containers/:cid/views',
    {
      schema: { ...t, summary: "Save a data view on a project, a user (their id) or 'site'", params: containerParams, body: viewSaveBody },
    },
    async (req) => {
      const access = accessOf(ctx, req);
      const { cid } = req.params;
      await requireViewManage(db, access, cid);
      const spec = storedSpec(req.body) as unknown as DataViewSpec;
      checkView(spec);
      return { _id: await insertView(db, cid, spec as unknown as JsonObject, access.principal.userId) };
    },
  );

  app.get('/containers/:cid/views', { schema: { ...t, params: containerParams } }, async (req) => {
    const { cid } = req.params;
    await requireViewRead(db, accessOf(ctx, req), cid);
    return (await viewsOf(db, cid)).map(viewDoc);
  });

  app.get('/views/:vid', { schema: { ...t, params: viewParams } }, async (req) => viewDoc(await loadView(req, req.params.vid)));

  // Flywheel's modify_view: only the fields given change (the Python SDK leaves unset ones out);
  // a field given as null is removed. The result must still be a valid view.
  app.put(
    '/views/:vid',
    { schema: { ...t, summary: 'Update the fields given of a saved data view', params: viewParams, body: viewPatchBody } },
    async (req) => {
      const v = await loadView(req, req.params.vid);
      await requireViewManage(db, accessOf(ctx, req), v.parent);
      const merged = viewSpecOf<JsonObject>(v, {});
      for (const [k, val] of Object.entries(storedSpec(req.body))) {
        if (val === null) delete merged[k];
        else merged[k] = val;
      }
      if (!Array.isArray(merged.columns)) throw badRequest('columns: a view needs a columns list');
      checkView(merged as unknown as DataViewSpec);
      const label = typeof merged.label === 'string' ? merged.label : v.label;
      await updateView(db, v.id, merged, label);
      return { modified: 1 };
    },
  );

  app.delete('/views/:vid', { schema: { ...t, params: viewParams } }, async (req) => {
    const v = await loadView(req, req.params.vid);
    await requireViewManage(db, accessOf(ctx, req), v.parent);
    await deleteView(db, v.id);
    return { deleted: 1 };
  });
}
