import { Type } from '@sinclair/typebox';
import { BUILTIN_ROLES } from '@sprocket/types';
import type { FastifyRequest } from 'fastify';
import { CollectionAccess } from '../auth/collection-access.js';
import { accessOf, type ServerContext } from '../context.js';
import {
  COLLECTION_LEVELS,
  type CollectionNode,
  collectionCurators,
  collectionDoc,
  collectionFieldResolver,
  collectionMembersQuery,
  collectionPermissions,
  collectionsNamed,
  collectionsQuery,
  deleteCollection,
  insertCollection,
  modifyCollection,
  updateCollection,
} from '../dao/collections.js';
import { containerDoc, containerFieldResolver, containersByIds, currentFiles, subjectsById } from '../dao/containers.js';
import type { JsonObject } from '../dao/json.js';
import { metaColumns, metaOf } from '../dao/meta.js';
import type { CollectionsTable, ContainersTable } from '../dao/rows.js';
import { ApiError, apiError, badRequest, forbidden, notFound } from '../errors.js';
import { LIST_QUERY, type ListRequest, listQuery, listReply, parseListParams, runList } from '../http/listing.js';
import type { Api } from '../http/typed.js';
import { newId, now } from '../ids.js';
import { noteBody, noteParams, tagParams } from './container-meta.js';
import { roleAssignmentRoutes } from './role-assignments.js';
import { applyInfoUpdate, INFO, idParams, infoUpdateBody, LABEL, OBJECT_ID_SCHEMA, TAG, tagBody } from './schemas.js';

/**
 * Collections (Flywheel's `/collections`): curated sets of sessions and acquisitions from any
 * projects, with permissions like a project's. Contents change through `PUT /collections/{id}`
 * with `contents: {operation: add|remove, nodes: [{_id, level}]}`, as Flywheel's SDK sends it.
 * Listing a collection's sessions or acquisitions shows only those the caller may see in their own
 * projects: a role on a collection never opens the data it points at.
 */

/** At most this many nodes per change, so one request stays one bounded transaction. */
const MAX_NODES = 10_000;

const DESCRIPTION = Type.String({ maxLength: 10_000 });
const contentsSchema = Type.Object(
  {
    operation: Type.Unsafe<'add' | 'remove'>({ type: 'string', enum: ['add', 'remove'] }),
    nodes: Type.Array(
      Type.Object(
        { _id: OBJECT_ID_SCHEMA, level: Type.Unsafe<CollectionNode['level']>({ type: 'string', enum: [...COLLECTION_LEVELS] }) },
        { additionalProperties: false },
      ),
      { maxItems: MAX_NODES },
    ),
  },
  { additionalProperties: false },
);
const COLLECTION_PROPS = {
  label: Type.Optional(LABEL),
  description: Type.Optional(DESCRIPTION),
  info: Type.Optional(INFO),
  tags: Type.Optional(Type.Array(TAG, { maxItems: 1000 })),
};
const createBody = Type.Object({ ...COLLECTION_PROPS, label: LABEL }, { additionalProperties: false });
const modifyBody = Type.Object(
  { ...COLLECTION_PROPS, contents: Type.Optional(contentsSchema) },
  { additionalProperties: false, minProperties: 1 },
);
const acquisitionsQueryString = Type.Object({ ...LIST_QUERY, session: Type.Optional(OBJECT_ID_SCHEMA) });

export async function collectionRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;
  const t = { tags: ['collections'] };

  const collAccess = (req: FastifyRequest) => new CollectionAccess(ctx.handle, accessOf(ctx, req));
  const save = (id: string, patch: Partial<CollectionsTable>) => updateCollection(db, id, patch);

  async function fullDoc(row: CollectionsTable): Promise<JsonObject> {
    return collectionDoc(row, (await collectionPermissions(db, [row.id])).get(row.id) ?? [], true);
  }

  /**
   * The containers `nodes` name, each checked to exist at its level and to be visible to the
   * caller; the first that is not is reported by its place in the body, as a missing one would be.
   */
  async function resolveNodes(req: FastifyRequest, nodes: CollectionNode[]): Promise<{ node: CollectionNode; row: ContainersTable }[]> {
    const access = accessOf(ctx, req);
    const rows = await containersByIds(db, [...new Set(nodes.map((n) => n._id))]);
    const out: { node: CollectionNode; row: ContainersTable }[] = [];
    for (const [i, node] of nodes.entries()) {
      const row = rows.get(node._id);
      const where = `body.contents.nodes[${i}]`;
      if (!row || !(await access.can(row, 'containers_view_metadata'))) throw notFound(`${where}: ${node.level} ${node._id}`);
      if (row.type !== node.level) throw badRequest(`${where}: ${node._id} is a ${row.type}, not a ${node.level}`);
      out.push({ node, row });
    }
    return out;
  }

  /** Session or acquisition documents of a collection the caller may see, listed like /projects/{id}/sessions. */
  async function listMembers(
    req: FastifyRequest & ListRequest,
    level: 'session' | 'acquisition',
    collectionId: string,
    sessionId?: string,
  ) {
    const access = accessOf(ctx, req);
    const params = parseListParams(req);
    const projects = await access.projectScope();
    if (projects && !projects.length) return listReply(params, [], 0);
    const q = collectionMembersQuery(db, level, collectionId, { sessionId, projects });
    const { rows, total } = await runList(q, params, ctx.handle.dialect, containerFieldResolver(level));
    const files = await currentFiles(
      db,
      rows.map((r) => r.id),
    );
    const subjects =
      level === 'session' ? await subjectsById(db, rows.map((r) => r.subject_id!).filter(Boolean)) : new Map<string, ContainersTable>();
    const docs = rows.map((r) =>
      containerDoc(r, files.get(r.id) ?? [], { withInfo: false, subject: r.subject_id ? subjects.get(r.subject_id) : undefined }),
    );
    return listReply(params, docs, total);
  }

  app.post(
    '/collections',
    { schema: { ...t, summary: 'Create a collection (its creator becomes its curator, with the admin role)', body: createBody } },
    async (req) => {
      const p = accessOf(ctx, req).principal;
      if (p.readOnly || p.jobId || p.kind === 'engine') throw forbidden('creating collections needs a user key that may write');
      const b = req.body;
      const id = newId();
      await insertCollection(db, { id, curator: p.userId, fields: b }, BUILTIN_ROLES.admin.id);
      return { _id: id };
    },
  );

  app.get(
    '/collections',
    { schema: { ...t, summary: 'List the collections the caller holds a role on', querystring: listQuery } },
    async (req) => {
      const params = parseListParams(req);
      const visible = await collAccess(req).visibleIds();
      if (visible && !visible.length) return listReply(params, [], 0);
      const { rows, total } = await runList(collectionsQuery(db, visible), params, ctx.handle.dialect, collectionFieldResolver);
      const perms = await collectionPermissions(
        db,
        rows.map((r) => r.id),
      );
      return listReply(
        params,
        rows.map((r) => collectionDoc(r, perms.get(r.id) ?? [], false)),
        total,
      );
    },
  );

  app.get(
    '/collections/curators',
    { schema: { ...t, summary: 'The curators of the collections the caller holds a role on' } },
    async (req) => {
      const visible = await collAccess(req).visibleIds();
      if (visible && !visible.length) return [];
      const rows = await collectionCurators(db, visible);
      return rows.map((u) => ({ _id: u.id, firstname: u.firstname, lastname: u.lastname }));
    },
  );

  app.get('/collections/:id', { schema: { ...t, summary: 'Get a collection', params: idParams } }, async (req) =>
    fullDoc(await collAccess(req).require(req.params.id, 'containers_view_metadata')),
  );

  app.put(
    '/collections/:id',
    {
      schema: {
        ...t,
        summary: 'Modify a collection; `contents` adds or removes sessions and acquisitions',
        params: idParams,
        body: modifyBody,
      },
    },
    async (req) => {
      const row = await collAccess(req).require(req.params.id, 'containers_modify_metadata');
      const b = req.body;
      const nodes = b.contents ? await resolveNodes(req, b.contents.nodes) : [];
      await modifyCollection(db, row.id, {
        add: b.contents?.operation === 'add' ? nodes.map((n) => n.node) : undefined,
        remove: b.contents?.operation === 'remove' ? nodes : undefined,
        fields: b,
      });
      return { modified: 1 };
    },
  );

  app.delete(
    '/collections/:id',
    { schema: { ...t, summary: 'Delete a collection (its sessions and acquisitions stay where they are)', params: idParams } },
    async (req) => {
      const row = await collAccess(req).require(req.params.id, 'containers_delete_project');
      await deleteCollection(db, row.id);
      return { deleted: 1 };
    },
  );

  app.get(
    '/collections/:id/sessions',
    { schema: { ...t, summary: 'List the sessions of a collection the caller may see', params: idParams, querystring: listQuery } },
    async (req) => {
      const row = await collAccess(req).require(req.params.id, 'containers_view_metadata');
      return listMembers(req, 'session', row.id);
    },
  );

  app.get(
    '/collections/:id/acquisitions',
    {
      schema: {
        ...t,
        summary: 'List the acquisitions of a collection the caller may see (`session` narrows to one session)',
        params: idParams,
        querystring: acquisitionsQueryString,
      },
    },
    async (req) => {
      const row = await collAccess(req).require(req.params.id, 'containers_view_metadata');
      return listMembers(req, 'acquisition', row.id, req.query.session);
    },
  );

  // Permissions, as a project's: role assignments per user (legacy `access` names a built-in role).
  roleAssignmentRoutes(app, db, {
    plural: 'collections',
    noun: 'collection',
    table: 'collection_permissions',
    column: 'collection_id',
    require: (req, id, action) => collAccess(req).require(id, action),
  });

  // Info, tags and notes, as on containers.
  app.post(
    '/collections/:id/info',
    { schema: { ...t, summary: 'Set, delete or replace collection info', params: idParams, body: infoUpdateBody } },
    async (req) => {
      const row = await collAccess(req).require(req.params.id, 'containers_modify_metadata');
      await save(row.id, metaColumns({ info: applyInfoUpdate(metaOf(row).info, req.body) }));
      return { modified: 1 };
    },
  );
  app.post(
    '/collections/:id/tags',
    { schema: { ...t, summary: 'Add a tag to a collection', params: idParams, body: tagBody } },
    async (req) => {
      const row = await collAccess(req).require(req.params.id, 'tags_manage');
      const { value } = req.body;
      const { tags } = metaOf(row);
      if (tags.includes(value)) throw apiError('TAG_EXISTS', { tag: value, type: 'collection', id: row.id });
      await save(row.id, metaColumns({ tags: [...tags, value] }));
      return { modified: 1 };
    },
  );
  app.delete('/collections/:id/tags/:value', { schema: { ...t, params: tagParams } }, async (req) => {
    const row = await collAccess(req).require(req.params.id, 'tags_manage');
    const { value } = req.params;
    const { tags } = metaOf(row);
    if (!tags.includes(value)) throw apiError('TAG_NOT_FOUND', { tag: value, type: 'collection', id: row.id });
    await save(row.id, metaColumns({ tags: tags.filter((x) => x !== value) }));
    return { deleted: 1 };
  });
  app.post(
    '/collections/:id/notes',
    { schema: { ...t, summary: 'Add a note to a collection', params: idParams, body: noteBody } },
    async (req) => {
      const row = await collAccess(req).require(req.params.id, 'notes_manage');
      const stamp = now();
      const note = { _id: newId(), text: req.body.text, user: accessOf(ctx, req).principal.userId, created: stamp, modified: stamp };
      await save(row.id, metaColumns({ notes: [...metaOf(row).notes, note] }));
      return { _id: note._id };
    },
  );
  app.delete('/collections/:id/notes/:nid', { schema: { ...t, params: noteParams } }, async (req) => {
    const row = await collAccess(req).require(req.params.id, 'notes_manage');
    const { nid } = req.params;
    const { notes } = metaOf(row);
    if (!notes.some((n) => n._id === nid)) throw notFound(`note ${nid}`);
    await save(row.id, metaColumns({ notes: notes.filter((n) => n._id !== nid) }));
    return { deleted: 1 };
  });

  // `collections/<label>` (or `collections/<id:…>`) in /lookup: the one such collection the caller
  // holds a role on. Anything else falls through to the hierarchy walk (a group may be called
  // "collections").
  ctx.hooks.pathPrefixes.set('collections', async (req, rest) => {
    if (rest.length !== 1) return undefined;
    const seg = rest[0]!;
    const byId = /^<id:([0-9a-f]{24})>$/.exec(seg)?.[1];
    const visible = await collAccess(req).visibleIds();
    if (visible && !visible.length) return undefined;
    const rows = await collectionsNamed(db, byId ? { id: byId } : { label: seg }, visible);
    if (rows.length > 1)
      throw new ApiError('CONFLICT', `path collections/${seg}: more than one collection is labelled '${seg}'; use collections/<id:…>`);
    return rows[0] ? fullDoc(rows[0]) : undefined;
  });
}
