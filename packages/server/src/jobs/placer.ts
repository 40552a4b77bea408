import { type ContainerType, OBJECT_ID } from '@sprocket/types';
import type { ServerContext } from '../context.js';
import { TYPE_FIELDS } from '../dao/containers.js';
import { fileDoc, getCurrentFile } from '../dao/files.js';
import { fillMissing, isPlainObject, type JsonObject, parseJson } from '../dao/json.js';
import type { ContainersTable, FilesTable, JobsTable } from '../db/schema.js';
import { ApiError, apiError, badRequest, conflict } from '../errors.js';
import { commitFiles, type FileMeta, type StagedFile } from '../files/commit.js';
import { checkFileName } from '../files/names.js';
import type { MultipartUpload } from '../files/upload-parts.js';
import { jsonTooDeep, tooDeepMessage } from '../http/guards.js';
import { newId, now } from '../ids.js';
import { appendSystemLog } from './logs.js';
import { markFailedOutputAccepted, recordOutputs, touchHeartbeat } from './queue.js';

/**
 * Where a job's outputs land (`POST /engine`): the files go to the destination with the job as
 * their origin, and `output/.metadata.json` is applied with Flywheel's placer semantics
 * (gear spec §1.10).
 */

const LEVELS: ContainerType[] = ['project', 'subject', 'session', 'acquisition'];

export interface EngineUploadQuery {
  level?: string;
  id?: string;
  job?: string;
  job_ticket?: string;
}

/** The fields of a file a metadata entry may set; legacy `metadata`/`instrument` mean info/modality. */
function fileMetaOf(entry: JsonObject): FileMeta {
  const meta: FileMeta = {};
  if ('type' in entry) meta.type = entry.type === null ? null : String(entry.type);
  if ('modality' in entry) meta.modality = entry.modality === null ? null : String(entry.modality);
  else if (typeof entry.instrument === 'string') meta.modality = entry.instrument;
  if (isPlainObject(entry.classification)) meta.classification = entry.classification;
  if (isPlainObject(entry.info)) meta.info = entry.info;
  else if (isPlainObject(entry.metadata)) meta.info = entry.metadata;
  if (Array.isArray(entry.tags)) meta.tags = entry.tags.filter((t): t is string => typeof t === 'string');
  return meta;
}

/** The block of `.metadata.json` describing the destination's own level. */
function destinationBlock(md: JsonObject | undefined, destType: string): JsonObject | undefined {
  if (!md) return undefined;
  // Flywheel's analysis placer reads an analysis's files from the acquisition block.
  const b = destType === 'analysis' ? (md.analysis ?? md.acquisition) : md[destType];
  return isPlainObject(b) ? b : undefined;
}

function fileEntries(block: JsonObject | undefined): JsonObject[] {
  return Array.isArray(block?.files) ? (block.files as unknown[]).filter(isPlainObject).filter((e) => typeof e.name === 'string') : [];
}

/** Checks an engine upload against its job before anything is read: state, claimant, ticket, target. */
export async function checkEngineUpload(
  ctx: ServerContext,
  q: EngineUploadQuery,
  deviceId: string,
): Promise<{ job: JobsTable; dest: ContainersTable }> {
  if (!q.job || !OBJECT_ID.test(q.job)) throw badRequest('job: a 24-hex job id is required');
  if (!q.level || !q.id) throw badRequest('level and id: the destination of the job are required');
  const job = await ctx.handle.db.selectFrom('jobs').selectAll().where('id', '=', q.job).executeTakeFirst();
  if (!job) throw apiError('JOB_NOT_FOUND', { id: q.job });
  if (job.device_id !== deviceId) throw apiError('JOB_NOT_CLAIMED', { id: job.id });
  if (job.state !== 'running')
    throw apiError('JOB_STATE', { id: job.id, state: job.state, reason: 'outputs are accepted only while it runs' });
  if (!job.ticket) throw conflict(`job ${job.id} has no completion ticket: call POST /jobs/${job.id}/prepare-complete first`);
  if (q.job_ticket !== job.ticket) throw badRequest('job_ticket: does not match the ticket prepare-complete issued');
  if (q.level !== job.destination_type || q.id !== job.destination_id) {
    throw badRequest(`level/id: the job writes to ${job.destination_type} ${job.destination_id}, not ${q.level} ${q.id}`);
  }
  const dest = await ctx.handle.db.selectFrom('containers').selectAll().where('id', '=', job.destination_id).executeTakeFirst();
  if (!dest) throw conflict(`the destination ${job.destination_type} ${job.destination_id} of job ${job.id} no longer exists`);
  return { job, dest };
}

/** Streams the multipart body: file parts into staging, the `metadata` field as JSON. No file is fine. */
async function receive(
  ctx: ServerContext,
  upload: MultipartUpload,
): Promise<{ files: StagedFile[]; metadata?: JsonObject; metadataProblem?: string }> {
  if (!upload.isMultipart())
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'engine uploads are multipart/form-data (file parts and an optional metadata field)');
  const files: StagedFile[] = [];
  let metadata: JsonObject | undefined;
  let metadataProblem: string | undefined;
  try {
    for await (const part of upload.parts()) {
      if (part.type === 'field') {
        if (part.fieldname === 'metadata') {
          // Bounded like every JSON the API reads: a gear's deeply nested file would overflow the parser's stack.
          if (jsonTooDeep(String(part.value))) {
            metadataProblem = tooDeepMessage('.metadata.json');
            continue;
          }
          try {
            const v = JSON.parse(String(part.value));
            if (!isPlainObject(v)) throw new Error('not a JSON object');
            metadata = v;
          } catch (e) {
            metadataProblem = `.metadata.json is not a JSON object: ${(e as Error).message}`;
          }
        }
        continue;
      }
      const name = part.filename ?? '';
      try {
        checkFileName(name, `file part '${part.fieldname}'`);
        if (files.some((f) => f.name === name))
          throw badRequest(`output '${name}' appears twice (sub-folders are flattened to base names)`);
      } catch (e) {
        part.file.resume();
        throw e;
      }
      files.push({ name, blob: await ctx.store.stage(newId(), part.file) });
    }
  } catch (err) {
    await ctx.store.discard(files.map((f) => f.blob.key));
    if (err instanceof ApiError) throw err;
    throw badRequest(`upload failed: ${(err as Error).message}`);
  }
  return { files, metadata, metadataProblem };
}

/** Containers a metadata block may touch: the destination's own level and the levels above it. */
async function levelContainers(ctx: ServerContext, dest: ContainersTable): Promise<Map<ContainerType, ContainersTable>> {
  const ids: Partial<Record<ContainerType, string | null>> = {
    project: dest.project_id,
    subject: dest.subject_id,
    session: dest.session_id,
    acquisition: dest.acquisition_id,
  };
  ids[dest.type as ContainerType] = dest.id;
  const want = LEVELS.map((l) => ids[l]).filter((x): x is string => !!x);
  const rows = want.length ? await ctx.handle.db.selectFrom('containers').selectAll().where('id', 'in', want).execute() : [];
  const out = new Map<ContainerType, ContainersTable>();
  for (const r of rows) out.set(r.type as ContainerType, r);
  out.set(dest.type as ContainerType, dest);
  return out;
}

/**
 * Container fields from a metadata block, filled only where the stored value is absent or null;
 * tags are added as a set. Files are handled separately.
 */
async function fillContainer(ctx: ServerContext, row: ContainersTable, block: JsonObject): Promise<void> {
  const patch: Partial<ContainersTable> = {};
  if (isPlainObject(block.info)) {
    const info = parseJson<JsonObject>(row.info, {});
    const filled = fillMissing(info, block.info);
    if (JSON.stringify(filled) !== JSON.stringify(info)) patch.info = JSON.stringify(filled);
  }
  if (Array.isArray(block.tags)) {
    const tags = parseJson<string[]>(row.tags, []);
    const merged = [...new Set([...tags, ...block.tags.filter((t): t is string => typeof t === 'string')])];
    if (merged.length !== tags.length) patch.tags = JSON.stringify(merged);
  }
  if (typeof block.label === 'string' && block.label && !row.label) patch.label = block.label;
  if (row.type === 'subject' && typeof block.code === 'string' && block.code && !row.label) patch.label = block.code;
  if ((row.type === 'session' || row.type === 'acquisition') && typeof block.uid === 'string' && row.uid === null) patch.uid = block.uid;
  if ((row.type === 'session' || row.type === 'acquisition') && typeof block.timestamp === 'string' && row.timestamp === null) {
    // Stored as ISO-8601 like every other timestamp, so sorting and filtering keep working.
    const t = Date.parse(block.timestamp);
    if (Number.isFinite(t)) patch.timestamp = new Date(t).toISOString();
  }
  const fields = parseJson<JsonObject>(row.fields, {});
  let fieldsChanged = false;
  for (const key of TYPE_FIELDS[row.type as ContainerType] ?? []) {
    if (key === 'uid' || key === 'timestamp' || !(key in block) || block[key] === null) continue;
    if (fields[key] === undefined || fields[key] === null) {
      fields[key] = block[key];
      fieldsChanged = true;
    }
  }
  if (fieldsChanged) patch.fields = JSON.stringify(fields);
  if (!Object.keys(patch).length) return;
  await ctx.handle.db
    .updateTable('containers')
    .set({ ...patch, modified: now() })
    .where('id', '=', row.id)
    .execute();
}

/** Overwrites the named fields of an existing file in place (how classifiers annotate their input). */
async function updateExistingFile(ctx: ServerContext, container: ContainersTable, f: FilesTable, meta: FileMeta): Promise<void> {
  const patch: Partial<FilesTable> = {};
  if (meta.type !== undefined) patch.type = meta.type;
  if (meta.modality !== undefined) patch.modality = meta.modality;
  if (meta.classification) patch.classification = JSON.stringify(meta.classification);
  if (meta.info) patch.info = JSON.stringify(meta.info);
  if (meta.tags) patch.tags = JSON.stringify(meta.tags);
  if (!Object.keys(patch).length) return;
  const stamp = now();
  await ctx.handle.db
    .updateTable('files')
    .set({ ...patch, modified: stamp })
    .where('id', '=', f.id)
    .execute();
  const updated = { ...f, ...patch, modified: stamp };
  await ctx.events.emit('filesCommitted', { container, written: [updated], replaced: [f] });
}

/**
 * Receives a job's outputs and applies its metadata. Files always land (flagged `from_failed_job`
 * when the engine reported failure); container metadata and edits of existing files only on success;
 * the metadata is always kept on the job as `produced_metadata`.
 */
export async function placeEngineUpload(
  ctx: ServerContext,
  upload: MultipartUpload,
  q: EngineUploadQuery,
  deviceId: string,
): Promise<JsonObject> {
  const { job, dest } = await checkEngineUpload(ctx, q, deviceId);
  const started = Date.now();
  // A long upload is a sign of life too: the job must not be orphaned while its outputs stream in.
  const beat = setInterval(
    () => void touchHeartbeat(ctx, job.id).catch(() => undefined),
    Math.max(250, (ctx.config.jobHeartbeatTimeout * 1000) / 4),
  );
  let received: Awaited<ReturnType<typeof receive>>;
  try {
    received = await receive(ctx, upload);
  } finally {
    clearInterval(beat);
  }
  const { files, metadata, metadataProblem } = received;
  // The job may have been cancelled or orphaned while the content streamed in.
  const fresh = await ctx.handle.db.selectFrom('jobs').select(['state', 'device_id', 'ticket']).where('id', '=', job.id).executeTakeFirst();
  if (fresh?.state !== 'running' || fresh.device_id !== deviceId || fresh.ticket !== job.ticket) {
    await ctx.store.discard(files.map((f) => f.blob.key));
    throw apiError('JOB_STATE', { id: job.id, state: fresh?.state ?? 'gone', reason: 'outputs are accepted only while it runs' });
  }
  const success = job.ticket_success === 1;
  const notes: string[] = [];
  if (metadataProblem) notes.push(`${metadataProblem}; metadata ignored`);
  for (const key of Object.keys(metadata ?? {})) {
    if (!['project', 'subject', 'session', 'acquisition', 'analysis'].includes(key))
      notes.push(`.metadata.json: unknown key '${key}' ignored`);
  }

  const destEntries = fileEntries(destinationBlock(metadata, dest.type));
  const byName = new Map(destEntries.map((e) => [e.name as string, e]));
  for (const f of files) {
    const entry = byName.get(f.name);
    if (entry) f.meta = fileMetaOf(entry);
  }
  const written = files.length ? await commitFiles(ctx, dest, files, { type: 'job', id: job.id }, { fromFailedJob: !success }) : [];
  const uploaded = new Set(files.map((f) => f.name));

  if (success && metadata) notes.push(...(await applyContainerMetadata(ctx, dest, metadata, uploaded)));
  else if (!success && metadata)
    notes.push('the job failed: container metadata was not applied (POST /jobs/{id}/accept-failed-output applies it)');

  if (!files.length && !metadata && !notes.length) return { saved_files: parseJson<string[]>(job.saved_files, []), files: [], notes };
  const savedBefore = parseJson<string[]>(job.saved_files, []);
  const saved = [...new Set([...savedBefore, ...written.map((f) => f.name)])];
  const profile = parseJson<JsonObject>(job.profile, {});
  profile.total_output_files = saved.length;
  profile.total_output_size_bytes = (Number(profile.total_output_size_bytes) || 0) + written.reduce((a, f) => a + f.size, 0);
  profile.upload_time_ms = Date.now() - started;
  await recordOutputs(ctx, job, { savedFiles: saved, metadata, profile });
  for (const n of notes) await appendSystemLog(ctx.handle.db, job.id, n);
  return { saved_files: saved, files: written.map((f) => fileDoc(f, dest, true)), notes };
}

/**
 * The part of `.metadata.json` that changes what already exists: container fields (fill-if-missing,
 * tags added) of the destination and its ancestors, and entries naming files that are not among
 * `uploaded` (edited in place). Returns notes on what could not be applied.
 */
export async function applyContainerMetadata(
  ctx: ServerContext,
  dest: ContainersTable,
  metadata: JsonObject,
  uploaded: Set<string>,
): Promise<string[]> {
  const notes: string[] = [];
  const levels = await levelContainers(ctx, dest);
  const destEntries = fileEntries(destinationBlock(metadata, dest.type));
  // Entries naming files that were not uploaded edit those files where they already are.
  const edits: [ContainersTable, JsonObject][] = destEntries.filter((e) => !uploaded.has(e.name as string)).map((e) => [dest, e]);
  for (const [level, row] of levels) {
    if (row.id === dest.id) continue;
    for (const e of fileEntries(isPlainObject(metadata[level]) ? (metadata[level] as JsonObject) : undefined)) edits.push([row, e]);
  }
  for (const [row, entry] of edits) {
    const existing = await getCurrentFile(ctx.handle.db, row.id, entry.name as string);
    if (existing) await updateExistingFile(ctx, row, existing, fileMetaOf(entry));
    else
      notes.push(
        `.metadata.json names file '${String(entry.name)}', which is neither an output nor a file of ${row.type} ${row.id}; ignored`,
      );
  }
  for (const [level, row] of levels) {
    const block = metadata[level];
    if (isPlainObject(block)) await fillContainer(ctx, row, block);
    // Flywheel's session block may carry its subject.
    if (level === 'session' && isPlainObject(block) && isPlainObject(block.subject) && levels.get('subject')) {
      await fillContainer(ctx, levels.get('subject')!, block.subject);
    }
  }
  if (dest.type === 'analysis' && isPlainObject(metadata.analysis)) await fillContainer(ctx, dest, metadata.analysis);
  return notes;
}

/**
 * `POST /jobs/{id}/accept-failed-output`: a failed job's outputs count after all. Their
 * `from_failed_job` flag is cleared (gear rules then see them) and the container metadata the job
 * produced is applied.
 */
export async function acceptFailedOutput(ctx: ServerContext, job: JobsTable): Promise<string[]> {
  if (job.state !== 'failed')
    throw apiError('JOB_STATE', { id: job.id, state: job.state, reason: "only a failed job's output can be accepted" });
  await markFailedOutputAccepted(ctx, job);
  const dest = await ctx.handle.db.selectFrom('containers').selectAll().where('id', '=', job.destination_id).executeTakeFirst();
  if (!dest) throw conflict(`the destination of job ${job.id} no longer exists`);
  const saved = parseJson<string[]>(job.saved_files, []);
  const flagged = saved.length
    ? await ctx.handle.db
        .selectFrom('files')
        .selectAll()
        .where('container_id', '=', dest.id)
        .where('name', 'in', saved)
        .where('current', '=', 1)
        .where('from_failed_job', '=', 1)
        .execute()
    : [];
  const mine = flagged.filter((f) => parseJson<JsonObject>(f.origin, {}).id === job.id);
  if (mine.length) {
    const stamp = now();
    await ctx.handle.db
      .updateTable('files')
      .set({ from_failed_job: 0, modified: stamp })
      .where(
        'id',
        'in',
        mine.map((f) => f.id),
      )
      .execute();
    const accepted = mine.map((f) => ({ ...f, from_failed_job: 0, modified: stamp }));
    await ctx.events.emit('filesCommitted', { container: dest, written: accepted, replaced: mine });
  }
  const metadata = parseJson<JsonObject | null>(job.produced_metadata, null);
  const notes = metadata ? await applyContainerMetadata(ctx, dest, metadata, new Set(saved)) : [];
  await appendSystemLog(
    ctx.handle.db,
    job.id,
    `Failed output accepted: ${mine.length} file(s) unflagged${metadata ? ', container metadata applied' : ''}.`,
  );
  for (const n of notes) await appendSystemLog(ctx.handle.db, job.id, n);
  return notes;
}
