import type { JobPriority } from '@sprocket/types';
import type { AccessContext } from '../auth/access.js';
import { requireMayLaunch } from '../auth/job-access.js';
import type { ServerContext } from '../context.js';
import { fileDoc, getCurrentFile } from '../dao/files.js';
import { chainBelow, insertContainer } from '../dao/hierarchy.js';
import { isPlainObject, type JsonObject, parseJson } from '../dao/json.js';
import type { ContainersTable, JobsTable } from '../db/schema.js';
import { badRequest } from '../errors.js';
import { getGear, type LoadedGear } from './gears.js';
import { enqueueJob, type JobSpec } from './launch.js';

/** The body of a job-based analysis (`POST /{cont}/{id}/analyses {label, job: {...}}`), as sent. */
export interface JobAnalysisBody {
  label?: unknown;
  description?: unknown;
  info?: unknown;
  tags?: unknown;
  job?: unknown;
}

/** Input file entries are copied onto the analysis, as Flywheel does. */
async function inputEntries(ctx: ServerContext, job: JsonObject): Promise<JsonObject[]> {
  const inputs: JsonObject[] = [];
  const refs = isPlainObject(job.inputs) ? Object.values(job.inputs) : Array.isArray(job.inputs) ? job.inputs : [];
  for (const ref of refs) {
    if (!isPlainObject(ref) || typeof ref.id !== 'string' || typeof ref.name !== 'string') continue;
    const f = await getCurrentFile(ctx.handle.db, ref.id, ref.name);
    if (f) inputs.push(fileDoc(f, undefined, true));
  }
  return inputs;
}

function jobSpecOf(job: JsonObject & { gear_id: string }, analysisId: string, batch: string | undefined): JobSpec {
  return {
    batch,
    gear_id: job.gear_id,
    inputs: job.inputs as JobSpec['inputs'],
    config: isPlainObject(job.config) ? job.config : undefined,
    tags: Array.isArray(job.tags) ? (job.tags as string[]) : undefined,
    label: typeof job.label === 'string' ? job.label : undefined,
    priority: job.priority as JobPriority | undefined,
    resources: job.resources,
    destination: { type: 'analysis', id: analysisId },
  };
}

function gearInfo(gear: LoadedGear): JsonObject {
  const { row, manifest } = gear;
  return { id: row.id, category: row.category, name: manifest.name, version: manifest.version, capabilities: manifest.capabilities ?? [] };
}

/**
 * A job-based analysis: the analysis is created under `parent` (which the caller has checked for
 * analyses_create_job), the job queued into it (as part of `opts.batch` for a batch run), and the
 * analysis removed again if the job is refused.
 */
export async function createJobAnalysis(
  ctx: ServerContext,
  access: AccessContext,
  parent: ContainersTable,
  body: JobAnalysisBody,
  opts: { batch?: string } = {},
): Promise<{ _id: string; job: string }> {
  const { db } = ctx.handle;
  const p = access.principal;
  requireMayLaunch(access);
  const job = isPlainObject(body.job) ? (body.job as JsonObject) : undefined;
  if (!job) throw badRequest('job: expected {gear_id, inputs, config, tags}');
  if (typeof job.gear_id !== 'string') throw badRequest('job.gear_id: required');
  const gear = await getGear(ctx, job.gear_id);
  if (!gear) throw badRequest(`job.gear_id: gear ${job.gear_id} not found`);
  const label =
    typeof body.label === 'string' && body.label
      ? body.label
      : `${gear.manifest.name} ${new Date().toISOString().slice(0, 19).replace('T', ' ')}`;
  const analysis = await insertContainer(db, {
    type: 'analysis',
    label,
    chain: chainBelow(parent),
    parentType: parent.type,
    parentId: parent.id,
    info: isPlainObject(body.info) ? body.info : undefined,
    tags: Array.isArray(body.tags) ? (body.tags as string[]) : undefined,
    fields: {
      description: typeof body.description === 'string' ? body.description : '',
      inputs: await inputEntries(ctx, job),
      user: p.userId,
    },
  });
  let queued: JobsTable;
  try {
    queued = await enqueueJob(ctx, jobSpecOf(job as JsonObject & { gear_id: string }, analysis.id, opts.batch), {
      access,
      origin: { type: 'user', id: p.userId },
      allowAnalysisDestination: true,
      extraTags: ['analysis'],
    });
  } catch (e) {
    await db.deleteFrom('containers').where('id', '=', analysis.id).execute();
    throw e;
  }
  const fields = { ...parseJson<JsonObject>(analysis.fields, {}), job: queued.id, gear_info: gearInfo(gear) };
  await db
    .updateTable('containers')
    .set({ fields: JSON.stringify(fields) })
    .where('id', '=', analysis.id)
    .execute();
  return { _id: analysis.id, job: queued.id };
}
