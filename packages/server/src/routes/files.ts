import { Readable } from 'node:stream';
import { type Static, Type } from '@sinclair/typebox';
import { type ContainerType, PLURAL } from '@sprocket/types';
import { Ajv } from 'ajv';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { accessOf, type ServerContext } from '../context.js';
import { getContainer } from '../dao/containers.js';
import {
  deleteFileVersions,
  fileByKey,
  fileDoc,
  fileVersionKeys,
  fileVersions,
  getCurrentFile,
  getFileVersion,
  patchFile,
} from '../dao/files.js';
import { isPlainObject, type JsonObject } from '../dao/json.js';
import { classificationOf, jsonColumns, metaOf } from '../dao/meta.js';
import { describeJobOrigins } from '../dao/origins.js';
import type { ContainersTable, FilesTable } from '../dao/rows.js';
import { ticketSecret } from '../dao/settings.js';
import { ApiError, apiError, badRequest, describeSchemaError, notFound } from '../errors.js';
import { commitFiles, type FileMeta, type StagedFile } from '../files/commit.js';
import { checkFileName } from '../files/names.js';
import { signTicket, ticketAccess, verifyTicket } from '../files/tickets.js';
import { openZipMember, zipInfo } from '../files/zip-members.js';
import { jsonTooDeep, nulPath, tooDeepMessage } from '../http/guards.js';
import { replies } from '../http/replies.js';
import type { Api } from '../http/typed.js';
import { newId, now } from '../ids.js';
import { applyInfoUpdate, idParams, infoUpdateBody, JSON_OBJECT, nullable, OBJECT_ID_SCHEMA, SCHEMA_FORMATS, TAGS } from './schemas.js';

const fileParams = Type.Object({ id: OBJECT_ID_SCHEMA, name: Type.String({ minLength: 1 }) });
type FileRequest = FastifyRequest & { params: Static<typeof fileParams> };
const CLASSIFICATION = Type.Unsafe<Record<string, string[]>>({
  type: 'object',
  additionalProperties: { type: 'array', items: { type: 'string' } },
});
const FILE_STRING = nullable<string>({ type: ['string', 'null'], maxLength: 64 });
const fileMetaProps = {
  type: Type.Optional(FILE_STRING),
  modality: Type.Optional(FILE_STRING),
  classification: Type.Optional(CLASSIFICATION),
  info: Type.Optional(JSON_OBJECT),
  tags: Type.Optional(TAGS),
};

// The upload's `metadata` field sets the same fields as `PUT …/files/{name}`, under the same rules.
const validateFileMeta = new Ajv({ strict: false, formats: SCHEMA_FORMATS }).compile({ type: 'object', properties: fileMetaProps });

/** What is wrong with an upload's `metadata` (one set of fields, or Flywheel's `{files: […]}`), if anything. */
function uploadMetadataProblem(metadata: JsonObject): string | undefined {
  if ('files' in metadata && !Array.isArray(metadata.files)) return 'files must be an array of {name, …} entries';
  const entries: [string, unknown][] = Array.isArray(metadata.files) ? metadata.files.map((e, i) => [`files[${i}]`, e]) : [['', metadata]];
  for (const [where, entry] of entries) {
    if (!isPlainObject(entry)) return `${where} must be an object`;
    if (!validateFileMeta(entry)) {
      const { at, rule } = describeSchemaError(validateFileMeta.errors![0]!);
      const field = `${where}${at}`.replace(/^\./, '');
      return `${field || 'metadata'} ${rule}`;
    }
  }
  return undefined;
}

/**
 * Parses a `Range: bytes=` header against a size; undefined for the whole file. As HTTP asks, other
 * units are ignored, and so are multi-range requests (answered with the whole file, which is valid).
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const spec = header.trim();
  if (!/^bytes=/i.test(spec) || spec.includes(',')) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/i.exec(spec);
  if (!m || (m[1] === '' && m[2] === ''))
    throw new ApiError('RANGE_NOT_SATISFIABLE', `unsupported Range header '${header}' (one bytes=start-end range)`);
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) throw new ApiError('RANGE_NOT_SATISFIABLE', `range ${header} is outside the file (size ${size})`);
  return { start, end };
}

/**
 * Uploaded content is data, never code on the API's origin: an uploaded HTML page or SVG shown
 * inline would otherwise run its scripts with the API's origin (and the keys a web UI keeps there).
 * So every file answer says `nosniff` (the browser keeps to the stored type, set in app.ts for every
 * answer) and `Content-Security-Policy: sandbox`: shown inline (`?view=true`, as the web UI frames a
 * QA report) a page renders in an opaque origin with no scripts, forms, plugins or navigation of the
 * window. Without `?view=true` files are attachments. PDF is the one type left unsandboxed: browsers'
 * PDF viewers refuse to open in a sandboxed document, and they run no script in the page's origin.
 */
const UNSANDBOXED = new Set(['application/pdf']);
export const FILE_SANDBOX = 'sandbox';

/** Streams one stored file version, honouring Range. */
export function sendFile(ctx: ServerContext, req: FastifyRequest, reply: FastifyReply, f: FilesTable, inline: boolean): FastifyReply {
  if (!UNSANDBOXED.has(f.mimetype.split(';')[0]!.trim().toLowerCase())) void reply.header('Content-Security-Policy', FILE_SANDBOX);
  let range: { start: number; end: number } | undefined;
  try {
    range = parseRange(req.headers.range, f.size);
  } catch (e) {
    void reply.header('Content-Range', `bytes */${f.size}`);
    throw e;
  }
  const disposition = `${inline ? 'inline' : 'attachment'}; filename*=UTF-8''${encodeURIComponent(f.name)}`;
  void reply
    .header('Content-Type', f.mimetype)
    .header('Content-Disposition', disposition)
    .header('Accept-Ranges', 'bytes')
    .header('ETag', `"${f.hash}"`);
  if (range) {
    void reply
      .status(206)
      .header('Content-Range', `bytes ${range.start}-${range.end}/${f.size}`)
      .header('Content-Length', range.end - range.start + 1);
  } else void reply.header('Content-Length', f.size);
  // Fastify's HEAD twin of a GET recomputes Content-Length from a string payload but keeps ours for a
  // stream, which it drains: an empty stream answers HEAD without reading the blob.
  if (req.method === 'HEAD') return reply.send(Readable.from([]));
  if (f.size === 0) return reply.send('');
  return reply.send(ctx.store.open(f.id, range));
}

/**
 * `?info=true` (the member list of a zip, Flywheel's FileZipInfo) or `?member=<path>` (that member's
 * content) of one stored file version: read from the stored blob, the member streamed and inflated
 * on the way out (see files/zip-members.ts for the bounds).
 */
async function sendZipPart(
  ctx: ServerContext,
  req: FastifyRequest,
  reply: FastifyReply,
  f: FilesTable,
  member: string | undefined,
  inline: boolean,
) {
  const blob = { store: ctx.store, key: f.id, size: f.size };
  const what = `file '${f.name}'`;
  if (member === undefined) return zipInfo(blob, what);
  const { entry, stream } = await openZipMember(blob, member, what);
  const base = member.split('/').pop() || member;
  // The member is as untrusted as any upload: sandboxed, an attachment unless ?view=true (see sendFile).
  void reply
    .header('Content-Security-Policy', FILE_SANDBOX)
    .header('Content-Type', 'application/octet-stream')
    .header('Content-Disposition', `${inline ? 'inline' : 'attachment'}; filename*=UTF-8''${encodeURIComponent(base)}`)
    .header('Content-Length', entry.size);
  if (req.method === 'HEAD') {
    stream.destroy();
    return reply.send(Readable.from([]));
  }
  return reply.send(stream);
}

function metaFor(name: string, metadata: JsonObject | undefined): FileMeta | undefined {
  if (!metadata) return undefined;
  // Either one set of fields for every file, or Flywheel's `{files: [{name, …}]}` list.
  const list = Array.isArray(metadata.files) ? (metadata.files as JsonObject[]) : undefined;
  const m = list ? list.find((e) => e.name === name) : metadata;
  if (!m) return undefined;
  const meta: FileMeta = {};
  if ('type' in m) meta.type = m.type as string | null;
  if ('modality' in m) meta.modality = m.modality as string | null;
  if (isPlainObject(m.classification)) meta.classification = m.classification;
  if (isPlainObject(m.info)) meta.info = m.info;
  if (Array.isArray(m.tags)) meta.tags = m.tags as string[];
  return meta;
}

/**
 * Reads a multipart upload: every file part is streamed to staging (never held in memory), the
 * optional `metadata` field is JSON. On any failure the staged parts are discarded.
 */
export async function receiveUpload(ctx: ServerContext, req: FastifyRequest): Promise<{ files: StagedFile[]; metadata?: JsonObject }> {
  if (!req.isMultipart()) throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'file uploads must be multipart/form-data with a file field');
  const files: StagedFile[] = [];
  let metadata: JsonObject | undefined;
  try {
    // Without preservePath the parser silently cuts `../x` down to `x`; names must be refused, not rewritten.
    for await (const part of req.parts({ preservePath: true })) {
      if (part.type === 'field') {
        if (part.fieldname === 'metadata') {
          if (jsonTooDeep(String(part.value))) throw new ApiError('INVALID_JSON', tooDeepMessage("form field 'metadata'"));
          try {
            const v = JSON.parse(String(part.value));
            if (!isPlainObject(v)) throw new Error('not an object');
            const nul = nulPath(v, "form field 'metadata'");
            if (nul) throw new Error(`${nul} holds a NUL character (\\u0000)`);
            metadata = v;
          } catch (e) {
            throw badRequest(`form field 'metadata' is not a JSON object: ${(e as Error).message}`);
          }
          const problem = uploadMetadataProblem(metadata);
          if (problem) throw new ApiError('VALIDATION', `form field 'metadata': ${problem}`);
        }
        continue;
      }
      // A part sent with `filename=""` arrives without one; it is refused as an empty name, not a crash.
      const name = part.filename ?? '';
      try {
        checkFileName(name, `form field '${part.fieldname}'`);
        if (files.some((f) => f.name === name)) throw badRequest(`file '${name}' appears twice in one upload`);
      } catch (e) {
        part.file.resume();
        throw e;
      }
      const blob = await ctx.store.stage(newId(), part.file);
      files.push({ name, blob });
    }
  } catch (err) {
    await ctx.store.discard(files.map((f) => f.blob.key));
    if (err instanceof ApiError) throw err;
    // A full or failing disk is the server's trouble, not a bad request.
    if (['ENOSPC', 'EDQUOT', 'EIO', 'EROFS'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    throw badRequest(`upload failed: ${(err as Error).message}`);
  }
  if (!files.length) throw badRequest("upload has no file part (send the content as form field 'file')");
  for (const f of files) f.meta = metaFor(f.name, metadata);
  return { files, metadata };
}

export async function fileRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;
  const secret = await ticketSecret(db);

  for (const type of ['project', 'subject', 'session', 'acquisition', 'analysis'] as ContainerType[]) {
    const plural = PLURAL[type];
    const t = { tags: [plural, 'files'] };

    async function loadFile(req: FileRequest, action: Parameters<ReturnType<typeof accessOf>['requireContainer']>[2]) {
      const { id, name } = req.params;
      checkFileName(name, 'path');
      const container = await accessOf(ctx, req).requireContainer(type, id, action);
      const f = await getCurrentFile(db, id, name);
      if (!f) throw apiError('FILE_NOT_FOUND', { name, version: '', type, id });
      return { container, f };
    }

    async function upload(req: FastifyRequest, container: ContainersTable) {
      const { files } = await receiveUpload(ctx, req);
      const p = accessOf(ctx, req).principal;
      const origin = p.jobId
        ? { type: 'job' as const, id: p.jobId, via: { type: 'user', id: p.userId } }
        : { type: 'user' as const, id: p.userId };
      const written = await commitFiles(ctx, container, files, origin);
      return written.map((f) => fileDoc(f, container, true));
    }

    app.post(
      `/${plural}/:id/files`,
      {
        schema: {
          ...t,
          summary: `Upload files to a ${type} (multipart field 'file', optional 'metadata' JSON)`,
          params: idParams,
          consumes: ['multipart/form-data'],
        },
      },
      async (req) => {
        const container = await accessOf(ctx, req).requireContainer(type, req.params.id, 'files_create_upload');
        return upload(req, container);
      },
    );

    if (type !== 'analysis') {
      // Flywheel's SDK uploads analysis outputs through the parent's path.
      app.post(
        `/${plural}/:id/analyses/:aid/files`,
        { schema: { ...t, params: Type.Object({ id: OBJECT_ID_SCHEMA, aid: OBJECT_ID_SCHEMA }), consumes: ['multipart/form-data'] } },
        async (req) => {
          const { id, aid } = req.params;
          const analysis = await accessOf(ctx, req).requireContainer('analysis', aid, 'files_create_upload');
          if (analysis.parent_id !== id) throw apiError('ANALYSIS_NOT_FOUND', { id: aid, type, parent: id });
          return upload(req, analysis);
        },
      );
    }

    app.get(
      `/${plural}/:id/files/:name`,
      {
        schema: {
          ...t,
          summary:
            'Download a file (Range supported; ?version=N for an earlier version; ?ticket= for a signed URL; ?info=true lists the members of a zip, ?member=<path> streams one)',
          params: fileParams,
          querystring: Type.Object({
            version: Type.Optional(Type.Integer({ minimum: 1 })),
            ticket: Type.Optional(Type.String()),
            view: Type.Optional(Type.Boolean()),
            info: Type.Optional(
              Type.Boolean({ description: 'answer the zip member list {comment, members: [{path, size, timestamp, comment}]}' }),
            ),
            member: Type.Optional(
              Type.String({ minLength: 1, maxLength: 4096, description: 'stream this zip member instead of the whole file' }),
            ),
          }),
        },
      },
      async (req, reply) => {
        const { id, name } = req.params;
        const q = req.query;
        checkFileName(name, 'path');
        let f: FilesTable | undefined;
        if (q.ticket) {
          const payload = verifyTicket(secret, q.ticket);
          f = payload?.target.startsWith('f:') ? await fileByKey(db, payload.target.slice(2)) : undefined;
          if (!f || f.container_id !== id || f.name !== name) throw apiError('AUTH_TICKET_INVALID', { reason: 'invalid or expired' });
          // Checked again as the key that asked: a ticket does not outlive the permission behind it.
          await (await ticketAccess(ctx.handle, payload!)).requireContainer(type, id, 'files_download');
        } else {
          await accessOf(ctx, req).requireContainer(type, id, 'files_download');
          f = q.version ? await getFileVersion(db, id, name, q.version) : await getCurrentFile(db, id, name);
          if (!f) throw apiError('FILE_NOT_FOUND', { name, version: q.version ? ` version ${q.version}` : '', type, id });
          if (q.ticket === '') return { ticket: signTicket(secret, `f:${f.id}`, 60, accessOf(ctx, req).principal.keyId) };
        }
        if (q.info || q.member !== undefined) return sendZipPart(ctx, req, reply, f, q.member, q.view === true);
        return sendFile(ctx, req, reply, f, q.view === true);
      },
    );

    app.get(
      `/${plural}/:id/files/:name/info`,
      { schema: { ...t, summary: 'File metadata with info', params: fileParams, response: replies().file } },
      async (req) => {
        const { container, f } = await loadFile(req, 'files_view_metadata');
        return fileDoc(f, container, true);
      },
    );

    app.get(
      `/${plural}/:id/files/:name/versions`,
      {
        schema: {
          ...t,
          summary: "Every stored version of a file, oldest first; job origins carry the job's gear_info and launched_by",
          params: fileParams,
        },
      },
      async (req) => {
        const { container, f } = await loadFile(req, 'files_view_metadata');
        const rows = await fileVersions(db, container.id, f.file_id);
        return describeJobOrigins(
          db,
          rows.map((r) => fileDoc(r, container, false)),
        );
      },
    );

    app.put(
      `/${plural}/:id/files/:name`,
      {
        schema: {
          ...t,
          summary: 'Modify file fields',
          params: fileParams,
          body: Type.Object(fileMetaProps, { additionalProperties: false, minProperties: 1 }),
        },
      },
      async (req) => {
        const { f } = await loadFile(req, 'files_modify_metadata');
        const b = req.body;
        await updateFile(f, () => ({
          ...(b.type !== undefined ? { type: b.type } : {}),
          ...(b.modality !== undefined ? { modality: b.modality } : {}),
          ...jsonColumns({ classification: b.classification || undefined, info: b.info || undefined, tags: b.tags || undefined }),
        }));
        return { modified: 1 };
      },
    );

    app.post(
      `/${plural}/:id/files/:name/info`,
      { schema: { ...t, summary: 'Set, delete or replace file info', params: fileParams, body: infoUpdateBody } },
      async (req) => {
        const { f } = await loadFile(req, 'files_modify_metadata');
        await updateFile(f, (cur) => jsonColumns({ info: applyInfoUpdate(metaOf(cur).info, req.body) }));
        return { modified: 1 };
      },
    );

    app.post(
      `/${plural}/:id/files/:name/classification`,
      {
        schema: {
          ...t,
          summary: 'Add to, delete from or replace a file classification',
          params: fileParams,
          body: Type.Object(
            {
              add: Type.Optional(CLASSIFICATION),
              delete: Type.Optional(CLASSIFICATION),
              replace: Type.Optional(CLASSIFICATION),
              modality: Type.Optional(FILE_STRING),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
        },
      },
      async (req) => {
        const { f } = await loadFile(req, 'files_modify_metadata');
        const b = req.body;
        if (b.replace && (b.add || b.delete)) throw badRequest('body: replace cannot be combined with add or delete');
        await updateFile(f, (cur) => {
          let cls = b.replace ?? classificationOf(cur);
          // Own keys only: a key named `constructor` or `__proto__` is a classification like any other.
          const values = (k: string) => (Object.hasOwn(cls, k) ? (cls[k] ?? []) : []);
          for (const [k, vs] of Object.entries(b.add ?? {})) cls = { ...cls, [k]: [...new Set([...values(k), ...vs])] };
          for (const [k, vs] of Object.entries(b.delete ?? {})) {
            const left = values(k).filter((v) => !vs.includes(v));
            cls = { ...cls, [k]: left };
            if (!left.length) delete cls[k];
          }
          return { ...jsonColumns({ classification: cls }), ...(b.modality !== undefined ? { modality: b.modality } : {}) };
        });
        return { modified: 1 };
      },
    );

    app.delete(
      `/${plural}/:id/files/:name`,
      { schema: { ...t, summary: 'Delete a file and all its versions', params: fileParams } },
      async (req) => {
        const { container, f } = await loadFile(req, 'files_delete_non_device_data');
        const keys = await fileVersionKeys(db, container.id, f.file_id);
        await ctx.store.retire(keys);
        try {
          await deleteFileVersions(db, container.id, f.file_id);
        } catch (err) {
          await ctx.store.confirm(keys);
          throw err;
        }
        await ctx.store.remove(keys);
        return { deleted: 1 };
      },
    );
  }

  /**
   * Applies `patch` to the row as it is inside a transaction that holds the row's lock (taken by the
   * first update), so concurrent edits of one file's info or classification build on each other.
   */
  async function updateFile(f: FilesTable, patch: (current: FilesTable) => Partial<FilesTable>) {
    const changed = await patchFile(db, f.id, patch, now());
    if (!changed) throw notFound(`file '${f.name}'`);
    const container = await getContainer(db, f.container_id);
    if (!container) throw notFound(`file '${f.name}'`);
    await ctx.events.emit('filesCommitted', { container, written: [changed.after], replaced: [changed.before] });
  }
}
