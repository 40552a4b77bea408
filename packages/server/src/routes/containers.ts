import { Type } from '@sinclair/typebox';
import { type Action, CONTAINER_TYPES, type ContainerType, PLURAL } from '@sprocket/types';
import type { FastifyRequest } from 'fastify';
import type { AccessContext } from '../auth/access.js';
import { CollectionAccess } from '../auth/collection-access.js';
import { redactAnalysisInputs } from '../auth/visibility.js';
import { accessOf, type ServerContext } from '../context.js';
import { collectionDoc, collectionExists, collectionPermissions } from '../dao/collections.js';
import {
  analysesOf,
  childWithLabel,
  containerDoc,
  containerFieldResolver,
  containerFields,
  containersQuery,
  currentFiles,
  deleteSubtreeRows,
  getContainer,
  namesSubjectLabel,
  sessionBySubjectFieldResolver,
  sessionsBySubjectQuery,
  subjectsById,
  subtreeIds,
  TYPE_FIELDS,
  updateContainer,
} from '../dao/containers.js';
import { groupDoc, groupExists } from '../dao/groups.js';
import { chainBelow, insertContainer } from '../dao/hierarchy.js';
import type { JsonObject } from '../dao/json.js';
import { jsonColumns } from '../dao/meta.js';
import { MOVE_TARGETS, moveContainer } from '../dao/moves.js';
import { roleAssignmentsOf } from '../dao/role-assignments.js';
import { copyGroupPermissions } from '../dao/roles.js';
import type { ContainersTable } from '../dao/rows.js';
import { ApiError, apiError, badRequest } from '../errors.js';
import { LIST_QUERY, type ListRequest, listReply, parseListParams, runList } from '../http/listing.js';
import { FIELDS_QUERY, parseProjection, project, wants } from '../http/projection.js';
import { replies } from '../http/replies.js';
import type { Api } from '../http/typed.js';
import { analysisRoutes, INFLATE_QUERY } from './analyses.js';
import { type ContainerBody, createBody, modifyBody } from './container-bodies.js';
import { containerMetaRoutes } from './container-meta.js';
import { GROUP_ID_SCHEMA, groupParams, idParams, OBJECT_ID_SCHEMA } from './schemas.js';

/** A container listing's querystring: the list parameters and the UI's `fields` projection. */
const containerListQuery = Type.Object({ ...LIST_QUERY, ...FIELDS_QUERY });

/** Analyses have their own view action: a role may show the data but not the analyses run on it. */
const viewAction = (type: string): Action => (type === 'analysis' ? 'analyses_view_metadata' : 'containers_view_metadata');

/** Stored in UTC so timestamp filters and sorts compare instants, whatever zone the client wrote. */
function normalizeTimestamp(ts: string | null): string | null {
  if (ts === null) return null;
  const t = Date.parse(ts);
  if (Number.isNaN(t)) throw badRequest(`body.timestamp: '${ts}' is not a date-time`);
  return new Date(t).toISOString();
}

/** Splits a create/modify body into the columns and the per-type `fields` JSON. */
function splitBody(type: ContainerType, b: ContainerBody) {
  const fields: JsonObject = {};
  for (const k of TYPE_FIELDS[type]) if (k in b && k !== 'uid' && k !== 'timestamp' && k !== 'code') fields[k] = b[k];
  const label = type === 'subject' ? ((b.label ?? b.code) as string | undefined) : b.label;
  return {
    label,
    fields,
    uid: 'uid' in b ? (b.uid as string | null) : undefined,
    timestamp: 'timestamp' in b ? normalizeTimestamp(b.timestamp as string | null) : undefined,
  };
}

export async function containerRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;

  /** Lists containers of one type the caller can see, optionally under one ancestor. */
  async function listContainers(
    req: FastifyRequest & ListRequest & { query: { fields?: string } },
    type: ContainerType,
    scope?: { column: keyof ContainersTable; value: string },
  ) {
    const access = accessOf(ctx, req);
    const params = parseListParams(req);
    const projection = parseProjection(req.query.fields);
    const projects = await access.projectScope(type === 'analysis' ? 'analyses_view_metadata' : undefined);
    if (projects && !projects.length) return listReply(params, [], 0);
    // Sorting or filtering sessions on their subject's label joins the subject in; nothing else does.
    const bySubject = type === 'session' && namesSubjectLabel([...params.sort.map((k) => k.key), ...params.filter.map((t) => t.key)]);
    const q = bySubject ? sessionsBySubjectQuery(db, scope, projects) : containersQuery(db, type, scope, projects);
    const resolve = bySubject ? sessionBySubjectFieldResolver() : containerFieldResolver(type);
    const { rows, total } = await runList(q, params, ctx.handle.dialect, resolve, bySubject ? 'containers.id' : 'id');
    // Rows a projection leaves out are not read: a table of labels needs no file rows.
    const files = wants(projection, 'files')
      ? await currentFiles(
          db,
          rows.map((r) => r.id),
        )
      : new Map<string, never[]>();
    const subjects =
      type === 'session' && wants(projection, 'subject')
        ? await subjectsById(db, rows.map((r) => r.subject_id!).filter(Boolean))
        : new Map();
    const docs = rows.map((r) =>
      containerDoc(r, files.get(r.id) ?? [], { withInfo: false, subject: r.subject_id ? subjects.get(r.subject_id) : undefined }),
    );
    if (type === 'analysis') await redactAnalysisInputs(ctx.handle, access, docs);
    if (type === 'project' && wants(projection, 'permissions')) {
      const perms = await projectPermissions(rows.map((r) => r.id));
      for (const d of docs) d.permissions = perms.get(d._id as string) ?? [];
    }
    return listReply(params, projection ? docs.map((d) => project(d, projection)) : docs, total);
  }

  /** Role assignments per project, `[{_id, role_ids}]` as on Flywheel's Project model. */
  const projectPermissions = (ids: string[]) => roleAssignmentsOf(db, 'project', ids);

  async function fullDoc(row: ContainersTable, access: AccessContext): Promise<JsonObject> {
    const files = (await currentFiles(db, [row.id])).get(row.id) ?? [];
    const subject = row.type === 'session' && row.subject_id ? (await subjectsById(db, [row.subject_id])).get(row.subject_id) : undefined;
    let analyses: JsonObject[] | undefined;
    if (row.type !== 'analysis' && (await access.can(row, 'analyses_view_metadata'))) {
      const rows = await analysesOf(db, row.id, 'id');
      const af = await currentFiles(
        db,
        rows.map((r) => r.id),
      );
      analyses = await redactAnalysisInputs(
        ctx.handle,
        access,
        rows.map((a) => containerDoc(a, af.get(a.id) ?? [], { withInfo: false })),
      );
    }
    const doc = containerDoc(row, files, { withInfo: true, subject, analyses });
    await redactAnalysisInputs(ctx.handle, access, [doc]);
    if (row.type === 'project') doc.permissions = (await projectPermissions([row.id])).get(row.id) ?? [];
    return doc;
  }

  async function findOrCreateSubject(access: AccessContext, project: ContainersTable, spec: JsonObject): Promise<ContainersTable> {
    if (spec._id) {
      const s = await access.requireContainer('subject', spec._id as string, 'containers_view_metadata');
      if (s.project_id !== project.id) throw badRequest(`body.subject._id: subject ${s.id} belongs to another project`);
      return s;
    }
    const label = (spec.label ?? spec.code) as string | undefined;
    if (!label) throw badRequest('body.subject needs _id, label or code');
    const existing = await childWithLabel(db, project.id, 'subject', label);
    if (existing) return existing;
    await access.check(project, 'containers_create_hierarchy');
    const { fields } = splitBody('subject', spec);
    return insertContainer(db, { type: 'subject', label, chain: chainBelow(project), parentType: 'project', parentId: project.id, fields });
  }

  async function create(access: AccessContext, b: ContainerBody, type: Exclude<ContainerType, 'analysis'>): Promise<ContainersTable> {
    const { label, fields, uid, timestamp } = splitBody(type, b);
    const common = { info: b.info, tags: b.tags, fields, uid, timestamp };
    switch (type) {
      case 'project': {
        const group = b.group as string;
        await access.requireGroup(group, 'rw');
        const dup = await childWithLabel(db, group, 'project', label!);
        if (dup) throw apiError('CONTAINER_EXISTS', { type: 'project', label: String(label), where: `in group ${group}` });
        const project = await insertContainer(db, {
          type,
          label: label!,
          chain: { group_id: group, project_id: null, subject_id: null, session_id: null, acquisition_id: null },
          parentType: 'group',
          parentId: group,
          ...common,
        });
        await copyGroupPermissions(db, group, project.id);
        return project;
      }
      case 'subject': {
        if (!label) throw badRequest("body: a subject needs 'label' or 'code'");
        const project = await access.requireContainer('project', b.project as string, 'containers_create_hierarchy');
        const dup = await childWithLabel(db, project.id, 'subject', label);
        if (dup) throw apiError('CONTAINER_EXISTS', { type: 'subject', label, where: `in project ${project.id}` });
        return insertContainer(db, { type, label, chain: chainBelow(project), parentType: 'project', parentId: project.id, ...common });
      }
      case 'session': {
        const spec = (b.subject as JsonObject | undefined) ?? undefined;
        let projectId = b.project as string | undefined;
        if (!projectId && spec?._id) {
          const s = await access.requireContainer('subject', spec._id as string, 'containers_view_metadata');
          projectId = s.project_id!;
        }
        if (!projectId) throw badRequest("body: a session needs 'project' (or 'subject._id')");
        const project = await access.requireContainer('project', projectId, 'containers_create_hierarchy');
        // Flywheel scripts often add sessions without naming a subject; the session's label then names one.
        const subject = await findOrCreateSubject(access, project, spec ?? { label });
        return insertContainer(db, {
          type,
          label: label!,
          chain: chainBelow(subject),
          parentType: 'subject',
          parentId: subject.id,
          ...common,
        });
      }
      case 'acquisition': {
        const session = await access.requireContainer('session', b.session as string, 'containers_create_hierarchy');
        return insertContainer(db, {
          type,
          label: label!,
          chain: chainBelow(session),
          parentType: 'session',
          parentId: session.id,
          ...common,
        });
      }
    }
  }

  for (const type of CONTAINER_TYPES) {
    const plural = PLURAL[type];
    const t = { tags: [plural] };

    app.get(`/${plural}`, { schema: { ...t, summary: `List ${plural}`, querystring: containerListQuery } }, (req) =>
      listContainers(req, type),
    );

    if (type !== 'analysis') {
      app.post(`/${plural}`, { schema: { ...t, summary: `Create a ${type}`, body: createBody(type) } }, async (req) => {
        const row = await create(accessOf(ctx, req), req.body, type);
        return { _id: row.id };
      });
    }

    app.get(
      `/${plural}/:id`,
      // An analysis takes Flywheel's ?inflate_job (applied on the way out by routes/analyses.ts).
      {
        schema: {
          ...t,
          summary: `Get a ${type}`,
          params: idParams,
          ...(type === 'analysis' ? { querystring: { type: 'object', properties: INFLATE_QUERY } } : {}),
          response: replies().container(type),
        },
      },
      async (req) => {
        const access = accessOf(ctx, req);
        const row = await access.requireContainer(type, req.params.id, viewAction(type));
        return fullDoc(row, access);
      },
    );

    app.put(`/${plural}/:id`, { schema: { ...t, summary: `Modify a ${type}`, params: idParams, body: modifyBody(type) } }, async (req) => {
      const access = accessOf(ctx, req);
      const action = type === 'analysis' ? 'analyses_modify_metadata' : 'containers_modify_metadata';
      const row = await access.requireContainer(type, req.params.id, action);
      const b = req.body;
      const { label, fields, uid, timestamp } = splitBody(type, b);
      const move = MOVE_TARGETS[type];
      const moveTo =
        move && b[move.field] !== undefined
          ? type === 'session'
            ? ((b.subject as JsonObject)._id as string)
            : (b.session as string)
          : undefined;
      if (moveTo && move) {
        // Moving takes the subtree out of one place and into another: delete rights here, create rights there.
        await access.check(row, 'containers_delete_hierarchy');
        const dest = await access.requireContainer(move.type, moveTo, 'containers_create_hierarchy');
        if (dest.id !== row.parent_id) await moveContainer(db, row, dest);
      }
      if (label && label !== row.label && (type === 'project' || type === 'subject')) {
        const dup = await childWithLabel(db, row.parent_id, type, label);
        if (dup) throw apiError('CONTAINER_EXISTS', { type, label, where: `under ${row.parent_type} ${row.parent_id}` });
      }
      await updateContainer(db, row.id, {
        ...(label !== undefined ? { label } : {}),
        ...jsonColumns({
          info: b.info,
          tags: b.tags,
          fields: Object.keys(fields).length ? { ...containerFields(row), ...fields } : undefined,
        }),
        ...(uid !== undefined ? { uid } : {}),
        ...(timestamp !== undefined ? { timestamp } : {}),
      });
      return { modified: 1 };
    });

    app.delete(
      `/${plural}/:id`,
      { schema: { ...t, summary: `Delete a ${type} and everything under it`, params: idParams } },
      async (req) => {
        const access = accessOf(ctx, req);
        const action =
          type === 'project' ? 'containers_delete_project' : type === 'analysis' ? 'analyses_delete' : 'containers_delete_hierarchy';
        const row = await access.requireContainer(type, req.params.id, action);
        const ids = await subtreeIds(db, row);
        const keys: string[] = [];
        try {
          await deleteSubtreeRows(db, ids, type === 'project' ? row.id : undefined, async (fileKeys) => {
            keys.push(...fileKeys);
            // Marked before the rows go, so a crash after the commit leaves blobs that recovery removes.
            await ctx.store.retire(fileKeys);
          });
        } catch (err) {
          await ctx.store.confirm(keys);
          throw err;
        }
        await ctx.store.remove(keys);
        return { deleted: 1 };
      },
    );

    await containerMetaRoutes(app, ctx, type);
    if (type !== 'analysis') await analysisRoutes(app, ctx, type);
  }

  // Child listings: what SDK finders such as project.sessions iterate.
  const children: [string, ContainerType, ContainerType | 'group', keyof ContainersTable][] = [
    ['groups', 'project', 'group', 'group_id'],
    ['projects', 'subject', 'project', 'project_id'],
    ['projects', 'session', 'project', 'project_id'],
    ['projects', 'acquisition', 'project', 'project_id'],
    ['subjects', 'session', 'subject', 'subject_id'],
    ['subjects', 'acquisition', 'subject', 'subject_id'],
    ['sessions', 'acquisition', 'session', 'session_id'],
  ];
  for (const [parentPlural, childType, parentType, column] of children) {
    app.get(
      `/${parentPlural}/:id/${PLURAL[childType]}`,
      {
        schema: {
          tags: [parentPlural],
          summary: `List the ${PLURAL[childType]} of a ${parentType}`,
          params: parentType === 'group' ? groupParams : idParams,
          querystring: containerListQuery,
        },
      },
      async (req) => {
        const access = accessOf(ctx, req);
        const { id } = req.params;
        if (parentType === 'group') await access.requireGroup(id, 'visible');
        else await access.requireContainer(parentType, id, 'containers_view_metadata');
        return listContainers(req, childType, { column, value: id });
      },
    );
  }

  // Any container by id, as Flywheel's fw.get(id): hierarchy containers, groups (their ids are
  // names, not object ids) and collections, each saying what it is in `container_type`.
  const anyIdParams = Type.Object({ id: Type.Union([OBJECT_ID_SCHEMA, GROUP_ID_SCHEMA]) });
  app.get(
    '/containers/:id',
    { schema: { tags: ['containers'], summary: 'Get any container (group, collection, project … analysis) by id', params: anyIdParams } },
    async (req) => {
      const access = accessOf(ctx, req);
      const { id } = req.params;
      const row = await getContainer(db, id);
      if (row) {
        await access.check(row, viewAction(row.type));
        return fullDoc(row, access);
      }
      if (await collectionExists(db, id)) {
        const c = await new CollectionAccess(ctx.handle, access).require(id, 'containers_view_metadata');
        return collectionDoc(c, (await collectionPermissions(db, [c.id])).get(c.id) ?? [], true);
      }
      if (await groupExists(db, id)) {
        try {
          await access.requireGroup(id, 'visible');
        } catch (e) {
          if (e instanceof ApiError && e.status === 404) throw apiError('CONTAINER_NOT_FOUND', { type: 'container', id });
          throw e;
        }
        const doc = await groupDoc(db, id);
        if (!doc) throw apiError('CONTAINER_NOT_FOUND', { type: 'container', id });
        const { _id, ...rest } = doc;
        return { _id, container_type: 'group', ...rest };
      }
      throw apiError('CONTAINER_NOT_FOUND', { type: 'container', id });
    },
  );
}
