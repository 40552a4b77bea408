import {
  CONTAINER_TYPES,
  type ContainerType,
  canTransition,
  JOB_PRIORITIES,
  JOB_STATES,
  type JobLogLine,
  type JobPriority,
  type JobState,
  OBJECT_ID,
  type ResourceRequest,
  SINGULAR,
  TERMINAL_STATES,
} from '@sprocket/types';
import { type Expression, type SqlBool, sql } from 'kysely';
import type { AccessContext } from '../auth/access.js';
import type { JobEvent, ServerContext } from '../context.js';
import { parentsOf } from '../dao/containers.js';
import { getCurrentFile } from '../dao/files.js';
import { isPlainObject, type JsonObject, parseJson } from '../dao/json.js';
import type { ContainersTable, FilesTable, JobsTable } from '../db/schema.js';
import { ApiError, badRequest, conflict, notFound } from '../errors.js';
import { newId, now } from '../ids.js';
import { getGear, type LoadedGear, requireGear } from './gears.js';
import { fileInputEntry, fileMismatch, resolveConfig } from './invocation.js';
import { revokeJobKeys } from './keys.js';
import { appendLog, appendSystemLog } from './logs.js';
import type { FileInputSpec } from './manifest.js';
import { FALLBACK_POLL_MS, notifierOf } from './notifier.js';
import { manifestResources, parseResources } from './resources.js';

/**
 * The durable job queue: creating jobs (one function every launcher shares), claiming them,
 * moving them through the state table of packages/types/src/jobs.ts, retrying, and finding orphans.
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

export interface PreparedJob {
  row: JobsTable;
  containers: string[];
  gear: LoadedGear;
  /** The input files, by input name, as they were when the job was prepared. */
  files: Record<string, { holder: ContainersTable; file: FilesTable }>;
}

function containerType(t: unknown): ContainerType | undefined {
  if (typeof t !== 'string') return undefined;
  const s = (CONTAINER_TYPES as readonly string[]).includes(t) ? t : SINGULAR[t];
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

async function loadContainer(ctx: ServerContext, access: AccessContext | undefined, type: ContainerType, id: string, action: Parameters<AccessContext['requireContainer']>[2], where: string): Promise<ContainersTable> {
  try {
    if (access) return await access.requireContainer(type, id, action);
    const row = await ctx.handle.db.selectFrom('containers').selectAll().where('id', '=', id).where('type', '=', type).executeTakeFirst();
    if (!row) throw notFound(`${type} ${id}`);
    return row;
  } catch (e) {
    if (e instanceof ApiError && e.code === 'NOT_FOUND') throw badRequest(`${where}: ${type} ${id} not found`);
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
    out[key] = { base: 'context', found: false };
    for (const info of infos) {
      const c = isPlainObject(info.context) ? info.context : undefined;
      if (c && key in c && c[key] !== undefined) {
        out[key] = { base: 'context', found: true, value: c[key] };
        break;
      }
    }
  }
  return out;
}

function parentsDoc(row: ContainersTable): JsonObject {
  return { ...parentsOf(row), [row.type]: row.id };
}

/**
 * The columns of a job that has not run yet: pending, unclaimed, nothing saved, no result. A new
 * job and a retry (which copies everything else from the attempt before) both start from these, so
 * what a retry clears cannot drift from what a new job starts with.
 */
function notYetRun(stamp: string): Pick<
  JobsTable,
  | 'state' | 'retried' | 'saved_files' | 'produced_metadata' | 'failure_reason' | 'exit_code' | 'failed_output_accepted'
  | 'device_id' | 'claimed_by' | 'heartbeat' | 'ticket' | 'ticket_success'
  | 't_running' | 't_complete' | 't_failed' | 't_cancelled' | 'created' | 'modified'
> {
  return {
    state: 'pending',
    retried: null,
    saved_files: '[]',
    produced_metadata: null,
    failure_reason: null,
    exit_code: null,
    failed_output_accepted: 0,
    device_id: null,
    claimed_by: null,
    heartbeat: null,
    ticket: null,
    ticket_success: null,
    t_running: null,
    t_complete: null,
    t_failed: null,
    t_cancelled: null,
    created: stamp,
    modified: stamp,
  };
}

/**
 * Checks a launch against the gear's manifest and the caller's permissions and builds the job
 * row, without storing anything. Every error is a 4xx naming the input, config key or field.
 */
export async function prepareJob(ctx: ServerContext, spec: JobSpec, opts: EnqueueOptions): Promise<PreparedJob> {
  const { db } = ctx.handle;
  const { access } = opts;
  if (typeof spec.gear_id !== 'string' || !OBJECT_ID.test(spec.gear_id)) throw badRequest('gear_id: must be a 24-hex gear id');
  const gear = await getGear(db, spec.gear_id);
  if (!gear) throw badRequest(`gear_id: gear ${spec.gear_id} not found`);
  const m = gear.manifest;
  if (gear.row.disabled) throw badRequest(`gear_id: gear ${m.name} ${m.version} is disabled (custom.flywheel.invalid)`);

  // Inputs, in the manifest's order so config.json lists them as the gear declares them.
  const given = inputMap(spec.inputs);
  for (const [name, value] of given) {
    const ispec = m.inputs?.[name];
    if (!ispec) {
      const known = Object.keys(m.inputs ?? {});
      throw badRequest(`inputs.${name}: gear ${m.name} has no input named '${name}' (${known.length ? `inputs: ${known.join(', ')}` : 'it takes none'})`);
    }
    if (ispec.base === 'api-key') throw badRequest(`inputs.${name}: api-key inputs are minted by the server for the running job; do not pass them`);
    if (ispec.base === 'context') throw badRequest(`inputs.${name}: context inputs are resolved from info.context up the hierarchy; do not pass them`);
    if (value === null || value === undefined) given.delete(name);
  }
  const files: PreparedJob['files'] = {};
  const inputsDoc: JsonObject = {};
  const entries: JsonObject = {};
  const contextKeys: string[] = [];
  let firstHolder: ContainersTable | undefined;
  for (const [name, ispec] of Object.entries(m.inputs ?? {})) {
    if (ispec.base === 'context') {
      contextKeys.push(name);
      continue;
    }
    if (ispec.base === 'api-key') {
      entries[name] = { base: 'api-key' };
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
    const f = await getCurrentFile(db, holder.id, ref.name);
    if (!f) throw badRequest(`inputs.${name}: file '${ref.name}' not found on ${type} ${ref.id}`);
    const why = fileMismatch(ispec as FileInputSpec, f);
    if (why) throw badRequest(`inputs.${name}: file '${f.name}' does not match the input: ${why}`);
    files[name] = { holder, file: f };
    // The version is pinned: the job runs on the content its config.json describes, even if the name is re-uploaded.
    inputsDoc[name] = { type, id: holder.id, name: f.name, version: f.version };
    entries[name] = fileInputEntry(name, holder, f);
    firstHolder ??= holder;
  }

  // Destination: given, or the container of the first file input.
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

  const contexts = await resolveContext(ctx, dest, contextKeys);
  const ordered: JsonObject = {};
  for (const name of Object.keys(m.inputs ?? {})) {
    if (entries[name]) ordered[name] = entries[name];
    else if (contexts[name]) ordered[name] = contexts[name];
  }

  const config = resolveConfig(m, spec.config);

  const manifestRes = parseResources(manifestResources(m.custom), 'manifest.custom.sprocket.resources');
  const jobRes = parseResources(spec.resources, 'resources');
  if (jobRes.problem) throw badRequest(jobRes.problem);
  const resources: ResourceRequest = { ...(manifestRes.value ?? {}), ...jobRes.value };

  const priority = spec.priority ?? 'medium';
  if (!(priority in JOB_PRIORITIES)) throw badRequest(`priority: must be one of ${Object.keys(JOB_PRIORITIES).join(', ')}`);

  const id = newId();
  const payload: JsonObject = { config, inputs: ordered, destination: { type: dest.type, id: dest.id } };
  const fw = isPlainObject(m.custom) && isPlainObject(m.custom.flywheel) ? m.custom.flywheel : {};
  if (fw['show-job'] === true) payload.job = { id };

  const related = new Set<string>(lineage(dest));
  for (const { holder } of Object.values(files)) for (const c of lineage(holder)) related.add(c);
  const tags = [...new Set([...(spec.tags ?? []), ...(opts.extraTags ?? []), m.name])];
  const sizes = Object.values(files).map((x) => x.file.size);
  const stamp = now();
  const row: JobsTable = {
    id,
    gear_id: gear.row.id,
    gear_name: m.name,
    gear_info: JSON.stringify({ id: gear.row.id, category: gear.row.category, name: m.name, version: m.version, capabilities: m.capabilities ?? [] }),
    priority,
    priority_rank: JOB_PRIORITIES[priority],
    attempt: 1,
    previous_job_id: null,
    origin: JSON.stringify(opts.origin),
    origin_id: opts.origin.id,
    inputs: JSON.stringify(inputsDoc),
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
    ...notYetRun(stamp),
  };
  return { row, containers: [...related], gear, files };
}

async function emit(ctx: ServerContext, event: JobEvent): Promise<void> {
  for (const fn of ctx.hooks.jobEvents) {
    try {
      await fn(event);
    } catch (e) {
      process.emitWarning(`job event listener failed on ${event.type} of job ${event.job.id}: ${(e as Error).message}`);
    }
  }
}

/** Stores prepared jobs as pending and wakes waiting engines. */
export async function insertJobs(ctx: ServerContext, jobs: PreparedJob[]): Promise<JobsTable[]> {
  if (!jobs.length) return [];
  await ctx.handle.db.transaction().execute(async (trx) => {
    for (let i = 0; i < jobs.length; i += 200) {
      await trx.insertInto('jobs').values(jobs.slice(i, i + 200).map((j) => j.row)).execute();
    }
    const links = jobs.flatMap((j) => j.containers.map((c) => ({ job_id: j.row.id, container_id: c })));
    for (let i = 0; i < links.length; i += 500) await trx.insertInto('job_containers').values(links.slice(i, i + 500)).execute();
  });
  notifierOf(ctx).notify();
  for (const j of jobs) await emit(ctx, { type: 'enqueued', job: j.row });
  return jobs.map((j) => j.row);
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

export async function getJob(ctx: ServerContext, id: string): Promise<JobsTable | undefined> {
  return ctx.handle.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function requireJob(ctx: ServerContext, id: string): Promise<JobsTable> {
  const j = await getJob(ctx, id);
  if (!j) throw notFound(`job ${id}`);
  return j;
}

export interface TransitionOptions {
  /** States the job may be in now; default every state the table lets reach `to`. */
  from?: JobState[];
  /** Only when the job is claimed by this device. */
  deviceId?: string;
  /** Only when the last heartbeat is older than this (the orphan sweep). */
  heartbeatBefore?: string;
  set?: Partial<JobsTable>;
  /** A system line for the job log. */
  log?: string;
  /** Log lines the engine sends with the transition (its last ones), stored before `log`. */
  lines?: JobLogLine[];
}

/**
 * Moves a job to `to` as a compare-and-set on its current state (and claimant): if anything moved
 * it first, nothing is written and the caller gets a 409. Stamps `transitions.<to>`.
 */
export async function transitionJob(ctx: ServerContext, job: JobsTable, to: JobState, opts: TransitionOptions = {}): Promise<JobsTable> {
  const from = opts.from ?? JOB_STATES.filter((s) => canTransition(s, to));
  for (const s of from) if (!canTransition(s, to)) throw conflict(`a job cannot go from ${s} to ${to}`);
  if (!from.includes(job.state as JobState)) {
    throw conflict(`job ${job.id} is ${job.state}; it cannot become ${to}`);
  }
  const stamp = now();
  const set: Partial<JobsTable> = { ...opts.set, state: to, modified: stamp };
  if (to !== 'pending') set[`t_${to}` as 't_running'] = stamp;
  if ((TERMINAL_STATES as readonly string[]).includes(to)) {
    const profile = { ...parseJson<JsonObject>(job.profile, {}), ...parseJson<JsonObject>(opts.set?.profile, {}) };
    profile.total_time_ms = Date.parse(stamp) - Date.parse(job.created);
    set.profile = JSON.stringify(profile);
  }
  const terminal = (TERMINAL_STATES as readonly string[]).includes(to);
  // One transaction: the state change, the end of the job's keys and the log line commit together.
  const updated = await ctx.handle.db.transaction().execute(async (trx) => {
    let q = trx.updateTable('jobs').set(set).where('id', '=', job.id).where('state', 'in', from);
    if (opts.deviceId !== undefined) q = q.where('device_id', '=', opts.deviceId);
    if (opts.heartbeatBefore !== undefined) q = q.where('heartbeat', '<', opts.heartbeatBefore);
    const row = await q.returningAll().executeTakeFirst();
    if (row && terminal) await revokeJobKeys(trx, job.id);
    if (row && opts.lines?.length) await appendLog(trx, job.id, opts.lines);
    if (row && opts.log) await appendSystemLog(trx, job.id, opts.log);
    return row;
  });
  if (!updated) {
    const cur = await getJob(ctx, job.id);
    if (!cur) throw notFound(`job ${job.id}`);
    if (opts.deviceId !== undefined && cur.device_id !== opts.deviceId && cur.state === 'running') {
      throw conflict(`job ${job.id} is claimed by another engine`);
    }
    throw conflict(`job ${job.id} is ${cur.state}; it cannot become ${to}`);
  }
  await emit(ctx, { type: 'state', job: updated, from: job.state });
  return updated;
}

/**
 * Queues a copy of a finished job (`attempt + 1`, `previous_job_id`). Only failed jobs, unless
 * `ignoreState` also allows complete and cancelled ones; a job is retried at most once.
 */
export async function retryJob(ctx: ServerContext, job: JobsTable, opts: { ignoreState?: boolean; resources?: ResourceRequest } = {}): Promise<JobsTable> {
  const allowed: JobState[] = opts.ignoreState ? ['failed', 'complete', 'cancelled'] : ['failed'];
  if (!allowed.includes(job.state as JobState)) {
    throw conflict(`job ${job.id} is ${job.state}; only ${opts.ignoreState ? 'finished' : 'failed'} jobs can be retried${opts.ignoreState ? '' : ' (ignoreState=true also allows complete and cancelled ones)'}`);
  }
  if (!(await getGear(ctx.handle.db, job.gear_id))) throw conflict(`job ${job.id} cannot be retried: its gear ${job.gear_id} was deleted`);
  const stamp = now();
  const id = newId();
  const payload = parseJson<JsonObject>(job.config, {});
  if (isPlainObject(payload.job)) payload.job = { id };
  const profile = parseJson<JsonObject>(job.profile, {});
  const row: JobsTable = {
    ...job,
    id,
    attempt: job.attempt + 1,
    previous_job_id: job.id,
    // A retry may ask for more than the attempt that failed (batch retry-failed with more memory).
    resources: opts.resources ? JSON.stringify({ ...parseJson<ResourceRequest>(job.resources, {}), ...opts.resources }) : job.resources,
    config: JSON.stringify(payload),
    profile: JSON.stringify({ total_input_files: profile.total_input_files ?? 0, total_input_size_bytes: profile.total_input_size_bytes ?? 0 }),
    ...notYetRun(stamp),
  };
  await ctx.handle.db.transaction().execute(async (trx) => {
    const r = await trx.updateTable('jobs').set({ retried: stamp }).where('id', '=', job.id).where('retried', 'is', null).where('state', 'in', allowed).executeTakeFirst();
    if (!Number(r.numUpdatedRows)) throw conflict(`job ${job.id} was already retried`);
    await trx.insertInto('jobs').values(row).execute();
    const links = await trx.selectFrom('job_containers').select('container_id').where('job_id', '=', job.id).execute();
    if (links.length) await trx.insertInto('job_containers').values(links.map((l) => ({ job_id: id, container_id: l.container_id }))).execute();
    if (job.destination_type === 'analysis') {
      // The analysis follows its latest attempt.
      const a = await trx.selectFrom('containers').select('fields').where('id', '=', job.destination_id).executeTakeFirst();
      if (a) {
        const fields = { ...parseJson<JsonObject>(a.fields, {}), job: id };
        await trx.updateTable('containers').set({ fields: JSON.stringify(fields), modified: stamp }).where('id', '=', job.destination_id).execute();
      }
    }
  });
  notifierOf(ctx).notify();
  await emit(ctx, { type: 'retried', job: row, previous: job });
  return row;
}

/** What an engine asks for in `POST /jobs/ask`. */
export interface AskFilter {
  capabilities: string[];
  limit: number;
  whitelist?: Record<string, unknown>;
  blacklist?: Record<string, unknown>;
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function claimCondition(ctx: ServerContext, f: AskFilter): Expression<SqlBool> {
  const d = ctx.handle.dialect;
  const parts: Expression<SqlBool>[] = [d.jsonArrayWithin('jobs.capabilities', f.capabilities) as Expression<SqlBool>];
  const list = (vals: string[]) => sql.join(vals.map((v) => sql`${v}`));
  const anyTag = (tags: string[]) => sql<SqlBool>`(${sql.join(tags.map((t) => d.jsonArrayContains('jobs.tags', t)), sql` or `)})`;
  const group = d.jsonText('jobs.parents', ['group']);
  const w = f.whitelist ?? {};
  const b = f.blacklist ?? {};
  if (stringList(w['gear-name']).length) parts.push(sql<SqlBool>`jobs.gear_name in (${list(stringList(w['gear-name']))})`);
  if (stringList(w.tag).length) parts.push(anyTag(stringList(w.tag)));
  if (stringList(w.group).length) parts.push(sql<SqlBool>`${group} in (${list(stringList(w.group))})`);
  if (stringList(b['gear-name']).length) parts.push(sql<SqlBool>`jobs.gear_name not in (${list(stringList(b['gear-name']))})`);
  if (stringList(b.tag).length) parts.push(sql<SqlBool>`not ${anyTag(stringList(b.tag))}`);
  if (stringList(b.group).length) parts.push(sql<SqlBool>`(${group} is null or ${group} not in (${list(stringList(b.group))}))`);
  return sql<SqlBool>`(${sql.join(parts, sql` and `)})`;
}

/**
 * Claims up to `limit` jobs for an engine, waiting up to `waitMs` for one to be queued. Claim
 * order: priority, then age. Returns as soon as anything was claimed.
 */
export async function claimJobs(
  ctx: ServerContext,
  engine: { deviceId: string; claimedBy: string },
  filter: AskFilter,
  waitMs: number,
  signal?: AbortSignal,
): Promise<JobsTable[]> {
  const notifier = notifierOf(ctx);
  const deadline = Date.now() + waitMs;
  const where = claimCondition(ctx, filter);
  for (;;) {
    const seen = notifier.current;
    if (signal?.aborted || notifier.isClosed) return [];
    const jobs = await ctx.handle.dialect.claimJobs(ctx.handle.db, {
      where,
      limit: filter.limit,
      deviceId: engine.deviceId,
      claimedBy: engine.claimedBy,
      stamp: now(),
    });
    if (jobs.length) {
      jobs.sort((a, b) => b.priority_rank - a.priority_rank || a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
      for (const j of jobs) await emit(ctx, { type: 'state', job: j, from: 'pending' });
      return jobs;
    }
    const left = deadline - Date.now();
    if (left <= 0) return [];
    await notifier.wait(seen, Math.min(left, FALLBACK_POLL_MS), signal);
  }
}

/** Looks up the gear of a job (for its engine request); gears of queued jobs cannot be deleted. */
export async function gearOfJob(ctx: ServerContext, job: JobsTable): Promise<LoadedGear> {
  return requireGear(ctx.handle.db, job.gear_id);
}

/**
 * Fails running jobs whose engine stopped heartbeating and retries them while attempts remain.
 * Safe to run from several server processes at once: each failure is a compare-and-set, and only
 * the process that made it queues the retry.
 */
export async function sweepOrphans(ctx: ServerContext): Promise<number> {
  const timeoutMs = ctx.config.jobHeartbeatTimeout * 1000;
  const cutoff = new Date(Date.now() - timeoutMs).toISOString();
  const stale = await ctx.handle.db.selectFrom('jobs').selectAll().where('state', '=', 'running').where('heartbeat', '<', cutoff).limit(500).execute();
  let failed = 0;
  for (const job of stale) {
    const seconds = ctx.config.jobHeartbeatTimeout;
    let row: JobsTable;
    try {
      row = await transitionJob(ctx, job, 'failed', {
        from: ['running'],
        heartbeatBefore: cutoff,
        set: { failure_reason: `orphaned: no heartbeat from engine ${job.claimed_by ?? job.device_id ?? '?'} for more than ${seconds} s` },
        log: `Job orphaned: engine ${job.claimed_by ?? job.device_id ?? '?'} sent no heartbeat for more than ${seconds} s (last at ${job.heartbeat}); marked failed.`,
      });
    } catch (e) {
      if (e instanceof ApiError) continue;
      throw e;
    }
    failed++;
    const max = ctx.config.jobMaxAttempts;
    if (row.attempt < max) {
      try {
        const next = await retryJob(ctx, row);
        await appendSystemLog(ctx.handle.db, row.id, `Retried as job ${next.id} (attempt ${next.attempt} of ${max}).`);
        await appendSystemLog(ctx.handle.db, next.id, `Retry of job ${row.id}, which was orphaned (attempt ${next.attempt} of ${max}).`);
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
      }
    } else {
      await appendSystemLog(ctx.handle.db, row.id, `Not retried: attempt ${row.attempt} reached SPROCKET_JOB_MAX_ATTEMPTS (${max}).`);
    }
  }
  return failed;
}

/**
 * Runs the orphan sweep every timeout/4. A freshly started server waits one full timeout first:
 * engines that kept running while it was down need a moment to heartbeat again.
 */
export function startOrphanSweeper(ctx: ServerContext): () => Promise<void> {
  const timeoutMs = ctx.config.jobHeartbeatTimeout * 1000;
  const startedAt = Date.now();
  let running: Promise<unknown> | undefined;
  let stopped = false;
  const timer = setInterval(
    () => {
      if (stopped || running || Date.now() - startedAt < timeoutMs) return;
      running = sweepOrphans(ctx)
        .catch((e) => process.emitWarning(`orphan sweep failed: ${(e as Error).message}`))
        .finally(() => {
          running = undefined;
        });
    },
    Math.max(100, Math.floor(timeoutMs / 4)),
  );
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
