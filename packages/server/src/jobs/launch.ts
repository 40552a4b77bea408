import {
  CONTAINER_TYPES,
  type ContainerType,
  contextInputEntry,
  type FileInputSpec,
  type GearManifest,
  JOB_PRIORITIES,
  type JobPriority,
  manifestResources,
  OBJECT_ID,
  parseResources,
  type ResourceRequest,
  SINGULAR,
} from '@sprocket/types';
import { AccessContext } from '../auth/access.js';
import { principalOfUser } from '../auth/authenticate.js';
import type { Principal } from '../auth/principal.js';
import type { ServerContext } from '../context.js';
import { parentsOf } from '../dao/containers.js';
import { getCurrentFile } from '../dao/files.js';
import { isPlainObject, type JsonObject, parseJson } from '../dao/json.js';
import type { ContainersTable, JobsTable } from '../db/schema.js';
import { ApiError, apiError, badRequest, forbidden } from '../errors.js';
import { newId, now } from '../ids.js';
import { getGear, type LoadedGear } from './gears.js';
import { fileInputEntry, fileMismatch, resolveConfig } from './invocation.js';
import { insertJobs, notYetRun, type PreparedJob } from './queue.js';

/**
 * Launching a job: checking what a launcher asks for against the gear's manifest and the caller's
 * permissions and building the row (one function every launcher shares: `POST /jobs/add`,
 * analyses, batch runs, gear rules). Storing and running it is the queue's part (queue.ts).
 */

export interface InputRef {
  type: string;
  id: string;
  name: string;
}

export interface JobOrigin {
  type: 'user' | 'system' | 'device' | 'rule' | 'batch';
  id: string | null;
  [k: string]: unknown;
}

/** What a launcher asks for: the body of `POST /jobs/add`, give or take. */
export interface JobSpec {
  gear_id: string;
  inputs?: Record<string, unknown> | unknown[];
  destination?: { type: string; id: string };
  config?: JsonObject;
  tags?: string[];
  label?: string;
  priority?: JobPriority;
  resources?: unknown;
  batch?: string;
}

export interface EnqueueOptions {
  /** The caller's permissions; absent for the platform itself (rules), which checks nothing. */
  access?: AccessContext;
  origin: JobOrigin;
  /** Only the analyses route may aim a job at an analysis. */
  allowAnalysisDestination?: boolean;
  /** Tags the launcher adds (`auto`, `batch`, `analysis`). */
  extraTags?: string[];
}

/** A container type named in a request, singular or plural (`acquisition`, `acquisitions`); groups are none. */
export function containerType(t: unknown): ContainerType | undefined {
  if (typeof t !== 'string') return undefined;
  // Own keys only: SINGULAR['constructor'] is Object itself.
  const s = (CONTAINER_TYPES as readonly string[]).includes(t) ? t : Object.hasOwn(SINGULAR, t) ? SINGULAR[t] : undefined;
  return s && s !== 'group' ? (s as ContainerType) : undefined;
}

/** `inputs` as Flywheel's map `{name: {type, id, name}}`, or the stored array form `[{input, type, id, name}]`. */
function inputMap(raw: JobSpec['inputs']): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (Array.isArray(raw)) {
    for (const [i, item] of raw.entries()) {
      if (!isPlainObject(item) || typeof item.input !== 'string') throw badRequest(`inputs[${i}]: expected {input, type, id, name}`);
      out.set(item.input, item);
    }
  } else if (raw !== undefined && raw !== null) {
    if (!isPlainObject(raw)) throw badRequest('inputs: expected an object {<input name>: {type, id, name}}');
    for (const [k, v] of Object.entries(raw)) out.set(k, v);
  }
  return out;
}

async function loadContainer(
  ctx: ServerContext,
  access: AccessContext | undefined,
  type: ContainerType,
  id: string,
  action: Parameters<AccessContext['requireContainer']>[2],
  where: string,
): Promise<ContainersTable> {
  try {
    if (access) return await access.requireContainer(type, id, action);
    const row = await ctx.handle.db.selectFrom('containers').selectAll().where('id', '=', id).where('type', '=', type).executeTakeFirst();
    if (!row) throw apiError('CONTAINER_NOT_FOUND', { type, id });
    return row;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) throw badRequest(`${where}: ${type} ${id} not found`);
    if (e instanceof ApiError) throw new ApiError(e.code, `${where}: ${e.message}`);
    throw e;
  }
}

/** Every ancestor id of a container and the container itself, nearest first. */
function lineage(row: ContainersTable): string[] {
  return [...new Set([row.id, row.acquisition_id, row.session_id, row.subject_id, row.project_id].filter((x): x is string => !!x))];
}

/** `info.context.<key>` from the destination up through its ancestors to the group (gear spec §1.8). */
async function resolveContext(ctx: ServerContext, dest: ContainersTable, keys: string[]): Promise<Record<string, JsonObject>> {
  const out: Record<string, JsonObject> = {};
  if (!keys.length) return out;
  const ids = lineage(dest);
  const rows = await ctx.handle.db.selectFrom('containers').select(['id', 'info']).where('id', 'in', ids).execute();
  const byId = new Map(rows.map((r) => [r.id, parseJson<JsonObject>(r.info, {})]));
  const group = await ctx.handle.db.selectFrom('groups').select('info').where('id', '=', dest.group_id).executeTakeFirst();
  const infos = [...ids.map((id) => byId.get(id) ?? {}), parseJson<JsonObject>(group?.info, {})];
  for (const key of keys) {
    const holder = infos
      .map((info) => (isPlainObject(info.context) ? info.context : undefined))
      .find((c) => c && key in c && c[key] !== undefined);
    out[key] = contextInputEntry(holder?.[key]);
  }
  return out;
}

/** Stands in for a rule author who is gone or disabled: holds nothing anywhere. */
const NOBODY = {
  kind: 'user',
  userId: '',
  email: '',
  roles: [],
  isAdmin: false,
  keyId: '',
  readOnly: true,
  jobId: null,
} as const satisfies Principal;

/**
 * Priorities above `medium` put a job ahead of everyone else's: they need an admin of the
 * destination's project (project_permissions_manage there) or a site admin. Every launcher
 * (jobs/add, analyses, batches, rules as their author) and PUT /jobs/{id} goes through here.
 */
export async function priorityAllowed(access: AccessContext, dest: ContainersTable | undefined, priority: JobPriority): Promise<boolean> {
  if (JOB_PRIORITIES[priority] <= JOB_PRIORITIES.medium || access.isAdmin) return true;
  return dest !== undefined && (await access.can(dest, 'project_permissions_manage'));
}

export async function requirePriority(
  access: AccessContext,
  dest: ContainersTable | undefined,
  priority: JobPriority,
  where: string,
): Promise<void> {
  if (await priorityAllowed(access, dest, priority)) return;
  throw forbidden(
    `${where}: '${priority}' priority needs a site admin or an admin of the destination's project (anyone may use low or medium)`,
  );
}

function parentsDoc(row: ContainersTable): JsonObject {
  return { ...parentsOf(row), [row.type]: row.id };
}

/** The gear a launch names: existing and not disabled. */
async function runnableGear(ctx: ServerContext, gearId: unknown): Promise<LoadedGear> {
  if (typeof gearId !== 'string' || !OBJECT_ID.test(gearId)) throw badRequest('gear_id: must be a 24-hex gear id');
  const gear = await getGear(ctx, gearId);
  if (!gear) throw badRequest(`gear_id: gear ${gearId} not found`);
  const m = gear.manifest;
  if (gear.row.disabled) throw badRequest(`gear_id: gear ${m.name} ${m.version} is disabled (custom.flywheel.invalid)`);
  return gear;
}

/** The inputs a launcher passed, each a file input the gear declares (null ones dropped). */
function givenInputs(m: GearManifest, raw: JobSpec['inputs']): Map<string, unknown> {
  const given = inputMap(raw);
  for (const [name, value] of given) {
    const ispec = m.inputs?.[name];
    if (!ispec) {
      const known = Object.keys(m.inputs ?? {});
      throw badRequest(
        `inputs.${name}: gear ${m.name} has no input named '${name}' (${known.length ? `inputs: ${known.join(', ')}` : 'it takes none'})`,
      );
    }
    if (ispec.base === 'api-key')
      throw badRequest(`inputs.${name}: api-key inputs are minted by the server for the running job; do not pass them`);
    if (ispec.base === 'context')
      throw badRequest(`inputs.${name}: context inputs are resolved from info.context up the hierarchy; do not pass them`);
    if (value === null || value === undefined) given.delete(name);
  }
  return given;
}

interface ResolvedInputs {
  files: PreparedJob['files'];
  /** The stored `inputs` column: references pinned to a file version. */
  inputsDoc: JsonObject;
  /** config.json's `inputs` entries of file and api-key inputs. */
  entries: JsonObject;
  /** Context inputs, resolved once the destination is known. */
  contextKeys: string[];
  firstHolder?: ContainersTable;
}

/** Each declared input in the manifest's order (so config.json lists them as the gear declares them), its file found and checked. */
async function resolveFileInputs(
  ctx: ServerContext,
  access: AccessContext | undefined,
  m: GearManifest,
  given: Map<string, unknown>,
): Promise<ResolvedInputs> {
  const out: ResolvedInputs = { files: {}, inputsDoc: {}, entries: {}, contextKeys: [] };
  for (const [name, ispec] of Object.entries(m.inputs ?? {})) {
    if (ispec.base === 'context') {
      out.contextKeys.push(name);
      continue;
    }
    if (ispec.base === 'api-key') {
      out.entries[name] = { base: 'api-key' };
      continue;
    }
    const ref = given.get(name);
    if (ref === undefined) {
      if (ispec.optional !== true) throw badRequest(`inputs.${name}: required input missing (a file reference {type, id, name})`);
      continue;
    }
    if (!isPlainObject(ref) || typeof ref.id !== 'string' || typeof ref.name !== 'string' || typeof ref.type !== 'string') {
      throw badRequest(`inputs.${name}: expected a file reference {type, id, name}`);
    }
    const type = containerType(ref.type);
    if (!type) throw badRequest(`inputs.${name}: '${ref.type}' is not a container type (${CONTAINER_TYPES.join(', ')})`);
    if (!OBJECT_ID.test(ref.id)) throw badRequest(`inputs.${name}: id '${ref.id}' is not a 24-hex container id`);
    const holder = await loadContainer(ctx, access, type, ref.id, 'files_download', `inputs.${name}`);
    const f = await getCurrentFile(ctx.handle.db, holder.id, ref.name);
    if (!f) throw badRequest(`inputs.${name}: file '${ref.name}' not found on ${type} ${ref.id}`);
    const why = fileMismatch(ispec as FileInputSpec, f);
    if (why) throw badRequest(`inputs.${name}: file '${f.name}' does not match the input: ${why}`);
    out.files[name] = { holder, file: f };
    // The version is pinned: the job runs on the content its config.json describes, even if the name is re-uploaded.
    out.inputsDoc[name] = { type, id: holder.id, name: f.name, version: f.version };
    out.entries[name] = fileInputEntry(name, holder, f);
    out.firstHolder ??= holder;
  }
  return out;
}

/** The destination: given, or the container of the first file input; the caller must be able to run jobs and upload there. */
async function resolveDestination(
  ctx: ServerContext,
  spec: JobSpec,
  opts: EnqueueOptions,
  firstHolder: ContainersTable | undefined,
): Promise<ContainersTable> {
  const { access } = opts;
  let destRef: { type: ContainerType; id: string };
  if (spec.destination !== undefined) {
    if (!isPlainObject(spec.destination) || typeof spec.destination.id !== 'string') throw badRequest('destination: expected {type, id}');
    const t = containerType(spec.destination.type);
    if (!t) throw badRequest(`destination.type: '${String(spec.destination.type)}' is not a container type`);
    if (!OBJECT_ID.test(spec.destination.id)) throw badRequest(`destination.id: '${spec.destination.id}' is not a 24-hex container id`);
    destRef = { type: t, id: spec.destination.id };
  } else if (firstHolder) destRef = { type: firstHolder.type as ContainerType, id: firstHolder.id };
  else throw badRequest('destination: required when the job has no file inputs');
  if (destRef.type === 'analysis' && !opts.allowAnalysisDestination) {
    throw badRequest('destination: jobs write into an analysis only when launched through POST /{container}/{id}/analyses');
  }
  const dest = await loadContainer(ctx, access, destRef.type, destRef.id, 'jobs_run_cancel', 'destination');
  if (access) {
    try {
      await access.check(dest, 'files_create_upload');
    } catch (e) {
      if (e instanceof ApiError) throw new ApiError(e.code, `destination: ${e.message}`);
      throw e;
    }
  }
  return dest;
}

/** config.json's `inputs`: file, api-key and context entries in the manifest's order. */
async function configInputs(ctx: ServerContext, m: GearManifest, dest: ContainersTable, resolved: ResolvedInputs): Promise<JsonObject> {
  const contexts = await resolveContext(ctx, dest, resolved.contextKeys);
  const ordered: JsonObject = {};
  for (const name of Object.keys(m.inputs ?? {})) {
    if (resolved.entries[name]) ordered[name] = resolved.entries[name];
    else if (contexts[name]) ordered[name] = contexts[name];
  }
  return ordered;
}

/** What the job asks of an engine: the manifest's resources, overridden by the launcher's. */
function jobResources(m: GearManifest, requested: unknown): ResourceRequest {
  const manifestRes = parseResources(manifestResources(m.custom), 'manifest.custom.sprocket.resources');
  const jobRes = parseResources(requested, 'resources');
  if (jobRes.problem) throw badRequest(jobRes.problem);
  return { ...(manifestRes.value ?? {}), ...jobRes.value };
}

/** The job's priority, checked against the launcher's standing (a rule's: its author's). */
async function jobPriority(ctx: ServerContext, spec: JobSpec, opts: EnqueueOptions, dest: ContainersTable): Promise<JobPriority> {
  const { access } = opts;
  const priority = spec.priority ?? 'medium';
  if (!(priority in JOB_PRIORITIES)) throw badRequest(`priority: must be one of ${Object.keys(JOB_PRIORITIES).join(', ')}`);
  if (JOB_PRIORITIES[priority] > JOB_PRIORITIES.medium) {
    // A rule launches as its author: the priority it carries needs the author's standing.
    const via = isPlainObject(opts.origin.via) ? opts.origin.via : undefined;
    const author = !access && via?.type === 'rule' && typeof via.user === 'string' ? via.user : undefined;
    const actor = access ?? (author ? new AccessContext(ctx.handle, (await principalOfUser(ctx.handle, author)) ?? NOBODY) : undefined);
    if (actor) await requirePriority(actor, dest, priority, author ? `priority (rule author ${author})` : 'priority');
  }
  return priority;
}

/** The pending job row, from everything checked above. */
function jobRow(
  gear: LoadedGear,
  spec: JobSpec,
  opts: EnqueueOptions,
  parts: {
    dest: ContainersTable;
    resolved: ResolvedInputs;
    payload: JsonObject;
    id: string;
    priority: JobPriority;
    resources: ResourceRequest;
    related: Set<string>;
  },
): JobsTable {
  const m = gear.manifest;
  const { dest, resolved, payload, id, priority, resources, related } = parts;
  const tags = [...new Set([...(spec.tags ?? []), ...(opts.extraTags ?? []), m.name])];
  const sizes = Object.values(resolved.files).map((x) => x.file.size);
  return {
    id,
    gear_id: gear.row.id,
    gear_name: m.name,
    gear_info: JSON.stringify({
      id: gear.row.id,
      category: gear.row.category,
      name: m.name,
      version: m.version,
      capabilities: m.capabilities ?? [],
    }),
    priority,
    priority_rank: JOB_PRIORITIES[priority],
    attempt: 1,
    previous_job_id: null,
    origin: JSON.stringify(opts.origin),
    origin_id: opts.origin.id,
    inputs: JSON.stringify(resolved.inputsDoc),
    destination_type: dest.type,
    destination_id: dest.id,
    config: JSON.stringify(payload),
    tags: JSON.stringify(tags),
    label: spec.label ?? null,
    batch: spec.batch ?? null,
    capabilities: JSON.stringify(m.capabilities ?? []),
    resources: JSON.stringify(resources),
    profile: JSON.stringify({ total_input_files: sizes.length, total_input_size_bytes: sizes.reduce((a, b) => a + b, 0) }),
    parents: JSON.stringify(parentsDoc(dest)),
    related_container_ids: JSON.stringify([...related]),
    ...notYetRun(now()),
  };
}

/**
 * Checks a launch against the gear's manifest and the caller's permissions and builds the job
 * row, without storing anything. Every error is a 4xx naming the input, config key or field; the
 * steps run in this order so the first problem reported is the same whatever else is wrong.
 */
export async function prepareJob(ctx: ServerContext, spec: JobSpec, opts: EnqueueOptions): Promise<PreparedJob> {
  const gear = await runnableGear(ctx, spec.gear_id);
  const m = gear.manifest;
  const resolved = await resolveFileInputs(ctx, opts.access, m, givenInputs(m, spec.inputs));
  const dest = await resolveDestination(ctx, spec, opts, resolved.firstHolder);
  const inputs = await configInputs(ctx, m, dest, resolved);
  const config = resolveConfig(m, spec.config);
  const resources = jobResources(m, spec.resources);
  const priority = await jobPriority(ctx, spec, opts, dest);

  const id = newId();
  const payload: JsonObject = { config, inputs, destination: { type: dest.type, id: dest.id } };
  const fw = isPlainObject(m.custom) && isPlainObject(m.custom.flywheel) ? m.custom.flywheel : {};
  if (fw['show-job'] === true) payload.job = { id };
  const related = new Set<string>(lineage(dest));
  for (const { holder } of Object.values(resolved.files)) for (const c of lineage(holder)) related.add(c);
  const row = jobRow(gear, spec, opts, { dest, resolved, payload, id, priority, resources, related });
  return { row, containers: [...related], gear, files: resolved.files };
}

/**
 * Creates one job: what `POST /jobs/add`, analyses, batch runs and gear rules all call. Returns the
 * stored row (state `pending`).
 */
export async function enqueueJob(ctx: ServerContext, spec: JobSpec, opts: EnqueueOptions): Promise<JobsTable> {
  const prepared = await prepareJob(ctx, spec, opts);
  const [row] = await insertJobs(ctx, [prepared]);
  return row!;
}
