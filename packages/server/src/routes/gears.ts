import { Type } from '@sinclair/typebox';
import { CONTAINER_TYPES, type ContainerType, invocationSchema } from '@sprocket/types';
import type { FastifyRequest } from 'fastify';
import { requirePrincipal } from '../auth/authenticate.js';
import { isEngine, requireSiteAdmin, requireSiteRole } from '../auth/principal.js';
import { accessOf, type ServerContext } from '../context.js';
import { analysesOf, childLabels, containerRef, currentFiles, parentsOf } from '../dao/containers.js';
import { fileDoc } from '../dao/files.js';
import { deleteGearRow, gearNamed, gearsQuery } from '../dao/gears.js';
import { activeJobOfGear } from '../dao/jobs.js';
import { userExists } from '../dao/users.js';
import { apiError, badRequest, forbidden, notFound } from '../errors.js';
import { LIST_QUERY, listReply, parseListParams, runList } from '../http/listing.js';
import { replies } from '../http/replies.js';
import type { Api } from '../http/typed.js';
import { gearNameOwner, setGearNameOwner } from '../jobs/gear-owners.js';
import {
  forgetGear,
  gearDoc,
  gearFieldResolver,
  gearImageOf,
  loadedGear,
  receiveGearUpload,
  requiredFileInputs,
  requireGear,
  requiresReadWriteKey,
} from '../jobs/gears.js';
import { suggestions } from '../jobs/invocation.js';
import { containerType } from '../jobs/launch.js';
import { followNewGearVersion } from '../jobs/rule-checks.js';
import { idParams, OBJECT_ID_SCHEMA } from './schemas.js';

/** Special `filter` values of `GET /gears` (Flywheel's): not field terms. */
const GEAR_FILTERS = new Set(['single_input', 'read_only_key']);

export async function gearRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;
  const t = { tags: ['gears'] };

  app.post(
    '/gears',
    {
      schema: {
        ...t,
        summary:
          "Upload a gear: multipart field 'file' = tar.gz of the gear directory (manifest.json at its top), optional field 'category', optional field 'image' = the container image the manifest names (custom.gear-builder.image) as a `podman save` / `docker save` archive (tar or tar.gz; Sprocket extension, for sites without a registry; bounded by SPROCKET_GEAR_IMAGE_MAX_BYTES, 413 past it)",
        consumes: ['multipart/form-data'],
      },
    },
    async (req) => {
      const p = requirePrincipal(req);
      // A job's key acts for its job's data only: a gear must never publish gears.
      if (p.jobId) throw forbidden('a job key may not upload gears');
      requireSiteRole(p, 'developer', 'uploading gears');
      const { gear, warnings } = await receiveGearUpload(ctx, req, p);
      const access = accessOf(ctx, req);
      const mayMention = async (projectId: string) => {
        const project = await containerRef(db, projectId);
        return project !== undefined && (await access.can(project, 'gear_rules_view'));
      };
      warnings.push(...(await followNewGearVersion(ctx, gear, mayMention)));
      return { ...gearDoc(gear), ...(warnings.length ? { warnings } : {}) };
    },
  );

  app.get(
    '/gears',
    {
      schema: {
        ...t,
        summary: 'Gears: the latest version of each (all_versions=true for every one); filter=single_input|read_only_key or field terms',
        querystring: Type.Object({ ...LIST_QUERY, all_versions: Type.Optional(Type.Boolean()) }),
      },
    },
    async (req) => {
      requirePrincipal(req);
      const q = req.query;
      const terms = (q.filter ?? '').split(',').map((s) => s.trim());
      const special = new Set(terms.filter((s) => GEAR_FILTERS.has(s)));
      // The special values are not field terms: the list parameters get the filter without them.
      const filter = terms.filter((s) => s && !GEAR_FILTERS.has(s)).join(',') || undefined;
      const params = parseListParams({ query: { ...q, filter }, headers: req.headers });
      const base = gearsQuery(db, q.all_versions === true);
      if (!special.size) {
        const { rows, total } = await runList(base, params, ctx.handle.dialect, gearFieldResolver);
        return listReply(
          params,
          rows.map((r) => gearDoc(loadedGear(ctx, r))),
          total,
        );
      }
      // Flywheel's named filters look into the manifest: applied here, then the page is cut.
      const { rows } = await runList(
        base,
        { ...params, envelope: false, limit: undefined, skip: undefined },
        ctx.handle.dialect,
        gearFieldResolver,
      );
      let gears = rows.map((r) => loadedGear(ctx, r));
      if (special.has('single_input')) gears = gears.filter((g) => requiredFileInputs(g.manifest).length <= 1);
      if (special.has('read_only_key')) gears = gears.filter((g) => !requiresReadWriteKey(g.manifest));
      const total = gears.length;
      const from = params.skip ?? 0;
      gears = gears.slice(from, params.limit !== undefined ? from + params.limit : undefined);
      return listReply(params, gears.map(gearDoc), total);
    },
  );

  const nameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 256 }) });
  const ownerDoc = (o: { name: string; owner_id: string | null }) => ({ name: o.name, owner: o.owner_id });

  app.get(
    '/gears/owners/:name',
    {
      schema: {
        ...t,
        summary: 'Who may upload versions of a gear name: its owner (null: site admins only) and site admins',
        params: nameParams,
      },
    },
    async (req) => {
      requirePrincipal(req);
      const { name } = req.params;
      const owner = await gearNameOwner(db, name);
      if (!owner) throw apiError('GEAR_NAME_NOT_FOUND', { name });
      return ownerDoc(owner);
    },
  );

  app.put(
    '/gears/owners/:name',
    {
      schema: {
        ...t,
        summary: "Hand a gear name to another user (owner: user id) or to the site admins (owner: null); the name's owner or a site admin",
        params: nameParams,
        body: Type.Object({ owner: Type.Union([Type.String({ minLength: 1 }), Type.Null()]) }, { additionalProperties: false }),
      },
    },
    async (req) => {
      const p = requirePrincipal(req);
      if (p.jobId || p.readOnly) throw forbidden("changing a gear name's owner needs a read-write user key");
      const { name } = req.params;
      const { owner } = req.body;
      if (owner !== null) {
        if (!(await userExists(db, owner))) throw badRequest(`owner: user ${owner} not found`);
      }
      return ownerDoc(await setGearNameOwner(db, name, owner, p));
    },
  );

  app.get('/gears/:id', { schema: { ...t, params: idParams, response: replies().gear } }, async (req) => {
    requirePrincipal(req);
    return gearDoc(await requireGear(ctx, req.params.id));
  });

  app.delete(
    '/gears/:id',
    { schema: { ...t, summary: 'Delete a gear (site admin); refused while jobs of it are queued or running', params: idParams } },
    async (req) => {
      requireSiteAdmin(requirePrincipal(req));
      const gear = await requireGear(ctx, req.params.id);
      const active = await activeJobOfGear(db, gear.row.id);
      if (active) throw apiError('GEAR_IN_USE', { name: gear.manifest.name, version: gear.manifest.version, job: active.id });
      const image = await gearImageOf(ctx, gear.row.id);
      await deleteGearRow(db, gear.row.id);
      forgetGear(ctx, gear.row.id);
      await ctx.store.remove([...(gear.row.archive_key ? [gear.row.archive_key] : []), ...(image ? [image.archive_key] : [])]);
      return { deleted: 1 };
    },
  );

  app.get(
    '/gears/:id/invocation',
    { schema: { ...t, summary: 'The invocation schema of a gear (gear spec §1.7)', params: idParams } },
    async (req) => {
      requirePrincipal(req);
      return invocationSchema((await requireGear(ctx, req.params.id)).manifest);
    },
  );

  app.get(
    '/gears/:id/archive',
    { schema: { ...t, summary: 'The gear files as uploaded (tar.gz)', params: idParams } },
    async (req, reply) => {
      requirePrincipal(req);
      const gear = await requireGear(ctx, req.params.id);
      if (!gear.row.archive_key) throw notFound(`archive of gear ${gear.row.id}`);
      const name = `${gear.manifest.name}-${gear.manifest.version}.tar.gz`.replace(/[^A-Za-z0-9._-]/g, '_');
      void reply
        .header('Content-Type', 'application/gzip')
        .header('Content-Length', gear.row.archive_size)
        .header('Content-Disposition', `attachment; filename="${name}"`);
      return reply.send(ctx.store.open(gear.row.archive_key));
    },
  );

  app.get(
    '/gears/:id/image',
    {
      schema: {
        ...t,
        summary:
          'The container image archive uploaded with the gear (docker-archive, as sent; Sprocket extension). Headers X-Image-Digest (sha256:…) and X-Image-Name (the image it provides); HEAD for those alone. 404 when the gear has none. Engine keys may read it for the gears of their running jobs',
        params: idParams,
      },
    },
    async (req, reply) => {
      requirePrincipal(req);
      const gear = await requireGear(ctx, req.params.id);
      const image = await gearImageOf(ctx, gear.row.id);
      if (!image) throw notFound(`image archive of gear ${gear.row.id}`);
      void reply
        .header('Content-Type', 'application/x-tar')
        .header('Content-Length', image.size)
        .header('X-Image-Digest', image.digest)
        .header('X-Image-Name', image.image)
        .header('Content-Disposition', 'attachment; filename="image.tar"');
      // HEAD too: fastify sends its headers and drops the stream unread.
      return reply.send(ctx.store.open(image.archive_key));
    },
  );

  app.get(
    '/gears/:id/suggest/:cont/:cid',
    {
      schema: {
        ...t,
        summary: 'Which files of a container fit each file input of the gear',
        params: Type.Object({ id: OBJECT_ID_SCHEMA, cont: Type.String(), cid: OBJECT_ID_SCHEMA }),
      },
    },
    async (req) => {
      const { id, cont, cid } = req.params;
      const type = containerType(cont);
      if (!type) throw badRequest(`cont: '${cont}' is not a container type (${CONTAINER_TYPES.join(', ')})`);
      const gear = await requireGear(ctx, id);
      const access = accessOf(ctx, req);
      const row = await access.requireContainer(type, cid, 'files_view_metadata');
      const childType = { project: 'subject', subject: 'session', session: 'acquisition' }[type as string] as ContainerType | undefined;
      const children = childType ? await childLabels(db, row.id, childType) : [];
      const analyses = await analysesOf(db, row.id, 'created');
      const files = await currentFiles(db, [row.id, ...analyses.map((a) => a.id)]);
      const suggestFiles = (holder: typeof row) =>
        (files.get(holder.id) ?? []).map((f) => ({ ...fileDoc(f, holder, false), suggested: suggestions(gear.manifest, f) }));
      return {
        _id: row.id,
        container_type: row.type,
        label: row.label,
        parents: parentsOf(row),
        files: suggestFiles(row),
        children: children.map((c) => ({ _id: c.id, container_type: c.type, label: c.label })),
        analyses: analyses.map((a) => ({ _id: a.id, label: a.label, files: suggestFiles(a) })),
      };
    },
  );

  // `/lookup` paths `gears/<name>` (latest version) and `gears/<name>/<version>`.
  ctx.hooks.pathPrefixes.set('gears', async (req: FastifyRequest, rest: string[]) => {
    if (!isEngine(req.principal)) requirePrincipal(req);
    if (rest.length < 1 || rest.length > 2) throw badRequest('path: gears/<name> or gears/<name>/<version>');
    const row = await gearNamed(db, rest[0]!, rest[1]);
    if (!row) throw notFound(`path gears/${rest.join('/')}`);
    return { ...gearDoc(loadedGear(ctx, row)), container_type: 'gear', node_type: 'gear' };
  });
}
