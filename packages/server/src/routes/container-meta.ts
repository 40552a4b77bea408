import { type Static, Type } from '@sinclair/typebox';
import { type Action, type ContainerType, PLURAL } from '@sprocket/types';
import type { FastifyRequest } from 'fastify';
import { accessOf, type ServerContext } from '../context.js';
import { updateContainer } from '../dao/containers.js';
import { metaColumns, metaOf, type Note } from '../dao/meta.js';
import type { ContainersTable } from '../dao/rows.js';
import { apiError, notFound } from '../errors.js';
import type { Api } from '../http/typed.js';
import { newId, now } from '../ids.js';
import { applyInfoUpdate, idParams, infoUpdateBody, OBJECT_ID_SCHEMA, TAG, tagBody } from './schemas.js';

export const tagParams = Type.Object({ id: OBJECT_ID_SCHEMA, value: TAG });
export const noteParams = Type.Object({ id: OBJECT_ID_SCHEMA, nid: OBJECT_ID_SCHEMA });
export const noteBody = Type.Object({ text: Type.String({ minLength: 1, maxLength: 100_000 }) }, { additionalProperties: false });

/** Info, tags and notes of one container type. */
export async function containerMetaRoutes(app: Api, ctx: ServerContext, type: ContainerType): Promise<void> {
  const { db } = ctx.handle;
  const plural = PLURAL[type];
  const t = { tags: [plural] };
  const modify: Action = type === 'analysis' ? 'analyses_modify_metadata' : 'containers_modify_metadata';

  const load = (req: FastifyRequest & { params: Static<typeof idParams> }, action: Action): Promise<ContainersTable> =>
    accessOf(ctx, req).requireContainer(type, req.params.id, action);
  const save = (id: string, patch: Partial<ContainersTable>) => updateContainer(db, id, patch);

  app.post(
    `/${plural}/:id/info`,
    { schema: { ...t, summary: `Set, delete or replace ${type} info`, params: idParams, body: infoUpdateBody } },
    async (req) => {
      const row = await load(req, modify);
      await save(row.id, metaColumns({ info: applyInfoUpdate(metaOf(row).info, req.body) }));
      return { modified: 1 };
    },
  );

  app.get(`/${plural}/:id/tags`, { schema: { ...t, params: idParams } }, async (req) => metaOf(await load(req, 'tags_view')).tags);

  app.post(`/${plural}/:id/tags`, { schema: { ...t, summary: `Add a tag to a ${type}`, params: idParams, body: tagBody } }, async (req) => {
    const row = await load(req, 'tags_manage');
    const { value } = req.body;
    const { tags } = metaOf(row);
    if (tags.includes(value)) throw apiError('TAG_EXISTS', { tag: value, type, id: row.id });
    await save(row.id, metaColumns({ tags: [...tags, value] }));
    return { modified: 1 };
  });

  app.put(`/${plural}/:id/tags/:value`, { schema: { ...t, summary: 'Rename a tag', params: tagParams, body: tagBody } }, async (req) => {
    const row = await load(req, 'tags_manage');
    const old = req.params.value;
    const { value } = req.body;
    const { tags } = metaOf(row);
    if (!tags.includes(old)) throw apiError('TAG_NOT_FOUND', { tag: old, type, id: row.id });
    await save(row.id, metaColumns({ tags: [...new Set(tags.map((x) => (x === old ? value : x)))] }));
    return { modified: 1 };
  });

  app.delete(`/${plural}/:id/tags/:value`, { schema: { ...t, params: tagParams } }, async (req) => {
    const row = await load(req, 'tags_manage');
    const { value } = req.params;
    const { tags } = metaOf(row);
    if (!tags.includes(value)) throw apiError('TAG_NOT_FOUND', { tag: value, type, id: row.id });
    await save(row.id, metaColumns({ tags: tags.filter((x) => x !== value) }));
    return { deleted: 1 };
  });

  app.post(
    `/${plural}/:id/notes`,
    { schema: { ...t, summary: `Add a note to a ${type}`, params: idParams, body: noteBody } },
    async (req) => {
      const row = await load(req, 'notes_manage');
      const stamp = now();
      const note: Note = { _id: newId(), text: req.body.text, user: accessOf(ctx, req).principal.userId, created: stamp, modified: stamp };
      await save(row.id, metaColumns({ notes: [...metaOf(row).notes, note] }));
      return { _id: note._id };
    },
  );

  app.get(`/${plural}/:id/notes/:nid`, { schema: { ...t, params: noteParams } }, async (req) => {
    const row = await load(req, 'notes_view');
    const note = metaOf(row).notes.find((n) => n._id === req.params.nid);
    if (!note) throw notFound(`note ${req.params.nid}`);
    return note;
  });

  app.put(`/${plural}/:id/notes/:nid`, { schema: { ...t, params: noteParams, body: noteBody } }, async (req) => {
    const row = await load(req, 'notes_manage');
    const { nid } = req.params;
    const { notes } = metaOf(row);
    const note = notes.find((n) => n._id === nid);
    if (!note) throw notFound(`note ${nid}`);
    note.text = req.body.text;
    note.modified = now();
    await save(row.id, metaColumns({ notes: notes }));
    return { modified: 1 };
  });

  app.delete(`/${plural}/:id/notes/:nid`, { schema: { ...t, params: noteParams } }, async (req) => {
    const row = await load(req, 'notes_manage');
    const { nid } = req.params;
    const { notes } = metaOf(row);
    if (!notes.some((n) => n._id === nid)) throw notFound(`note ${nid}`);
    await save(row.id, metaColumns({ notes: notes.filter((n) => n._id !== nid) }));
    return { deleted: 1 };
  });
}
