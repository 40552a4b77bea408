import { type Action, type FileInputSpec, type JobPriority, OBJECT_ID, parseResources, SINGULAR, TERMINAL_STATES } from '@sprocket/types';
import type { AccessContext } from '../auth/access.js';
import { ownsOrAdmin, requireWritableKey } from '../auth/principal.js';
import type { ServerContext } from '../context.js';
import { currentFiles, parentsOf } from '../dao/containers.js';
import { fileDoc } from '../dao/files.js';
import { isPlainObject, type JsonObject, parseJson } from '../dao/json.js';
import type { BatchesTable, ContainersTable, FilesTable, JobsTable } from '../db/schema.js';
import { ApiError, badRequest, forbidden, apiError } from '../errors.js';
import { newId, now } from '../ids.js';
import { getGear, type LoadedGear } from './gears.js';
import { fileFits, resolveConfig } from './invocation.js';
import { type InputRef, type JobOrigin, prepareJob, priorityAllowed } from './launch.js';
import { createJobAnalysis } from './analyses.js';
import { insertJobs, type PreparedJob, retryJob, transitionJob } from './queue.js';
import { containerLabels } from './listing.js';

/**
 * Batch runs (reference §2.11): a proposal matches a gear's inputs against every container under the
 * targets; running it queues one job (or analysis) per matched container. The batch's state is
 * derived from its jobs' latest attempts.
 */

export const OPTIONAL_INPUT_POLICIES = ['ignored', 'flexible', 'required'] as const;
type OptionalInputPolicy = (typeof OPTIONAL_INPUT_POLICIES)[number];

export interface BatchInput {
  gear_id: string;
  targets: { type: string; id: string }[];
  config?: JsonObject;
  tags?: string[];
  analysis?: { label?: string; description?: string };
  optional_input_policy?: OptionalInputPolicy;
  priority?: JobPriority;
}

/** What running the batch launches: one entry per matched container. */
interface ProposalEntry {
  container: { type: string; id: string };
  inputs: Record<string, InputRef>;
}

interface Proposal {
  entries: ProposalEntry[];
  /** The containers the batch was proposed over (absent in batches proposed before it was kept). */
  targets?: { type: string; id: string }[];
  analysis: { label: string; description?: string } | null;
  tags: string[];
  priority: JobPriority;
  optional_input_policy: OptionalInputPolicy;
}

interface Summary {
  matched: string[];
  ambiguous: string[];
  not_matched: string[];
  improper_permissions: string[];
  /** Entries run could not launch (the file went away, permissions changed…), with the reason. */
  skipped?: { container: string; reason: string }[];
}

const LEVEL_COLUMN: Record<string, 'project_id' | 'subject_id' | 'session_id' | 'acquisition_id'> = {
  project: 'project_id',
  subject: 'subject_id',
  session: 'session_id',
  acquisition: 'acquisition_id',
};

/** A target's type as a level batches run on: the plural route segment is accepted too. */
const level = (type: string): string => (SINGULAR[type] && SINGULAR[type] in LEVEL_COLUMN ? SINGULAR[type] : type);

function fileInputs(gear: LoadedGear): [string, FileInputSpec][] {
  return Object.entries(gear.manifest.inputs ?? {}).filter(([, s]) => s.base === 'file') as [string, FileInputSpec][];
}

function isAnalysisBatch(gear: LoadedGear, b: { analysis?: unknown }): boolean {
  return gear.row.category === 'analysis' || isPlainObject(b.analysis);
}

/** Containers under the targets at `level` (a target at that level counts itself). */
async function containersUnder(ctx: ServerContext, targets: ContainersTable[], level: 'acquisition' | 'session'): Promise<ContainersTable[]> {
  const out = new Map<string, ContainersTable>();
  for (const t of targets) {
    if (t.type === level) {
      out.set(t.id, t);
      continue;
    }
    if (level === 'session' && t.type === 'acquisition') {
      const s = t.session_id ? await ctx.handle.db.selectFrom('containers').selectAll().where('id', '=', t.session_id).executeTakeFirst() : undefined;
      if (s) out.set(s.id, s);
      continue;
    }
    const rows = await ctx.handle.db.selectFrom('containers').selectAll().where('type', '=', level).where(LEVEL_COLUMN[t.type]!, '=', t.id).orderBy('created').orderBy('id').execute();
    for (const r of rows) out.set(r.id, r);
  }
  return [...out.values()];
}

function containerEntry(row: ContainersTable, files: FilesTable[], reason?: string): JsonObject {
  return {
    _id: row.id,
    container_type: row.type,
    label: row.label,
    parents: parentsOf(row),
    files: files.map((f) => fileDoc(f, row, false)),
    // Beyond Flywheel: why an ambiguous or unmatched container is not run, for the proposal table.
    ...(reason ? { reason } : {}),
    created: row.created,
    modified: row.modified,
  };
}

/** An input's file constraints in a few words (`type dicom|parrec`), for reasons. */
function constraintsOf(spec: FileInputSpec): string {
  const parts = Object.entries(spec)
    .filter(([k]) => !['base', 'description', 'optional'].includes(k))
    .map(([k, d]) => (isPlainObject(d) && Array.isArray(d.enum) ? `${k} ${d.enum.join('|')}` : `${k} ${JSON.stringify(d)}`));
  return parts.length ? parts.join(', ') : 'any file';
}

const MAX_NAMED_FILES = 5;

/** What launching into a container needs, on top of seeing it. */
function launchActions(analysis: boolean): Action[] {
  return analysis ? ['jobs_run_cancel', 'analyses_create_job'] : ['jobs_run_cancel', 'files_create_upload'];
}

/** Whether the launcher may run the batch's job on this container, at the batch's priority. */
async function mayLaunch(access: AccessContext, row: ContainersTable, actions: Action[], priority: JobPriority): Promise<boolean> {
  for (const a of actions) if (!(await access.can(row, a))) return false;
  return priorityAllowed(access, row, priority);
}

/**
 * `POST /batch`: matches the gear against the containers under the targets and stores the proposal
 * (a pending batch, to run or cancel). `dryRun` stores nothing: the reply has `_id: null`.
 */
export async function proposeBatch(ctx: ServerContext, access: AccessContext, b: BatchInput, opts: { dryRun?: boolean } = {}): Promise<JsonObject> {
  const p = access.principal;
  if (p.readOnly) throw forbidden('read-only keys cannot launch jobs');
  if (!OBJECT_ID.test(b.gear_id)) throw badRequest('gear_id: must be a 24-hex gear id');
  const gear = await getGear(ctx, b.gear_id);
  if (!gear) throw badRequest(`gear_id: gear ${b.gear_id} not found`);
  if (gear.row.disabled) throw badRequest(`gear_id: gear ${gear.manifest.name} ${gear.manifest.version} is disabled`);
  if (!b.targets.length) throw badRequest('targets: at least one container {type, id}');
  const types = new Set(b.targets.map((t) => level(t.type)));
  if (types.size > 1) throw badRequest(`targets: all targets must be of one container type (got ${[...types].join(', ')})`);
  const targets: ContainersTable[] = [];
  for (const [i, t] of b.targets.entries()) {
    const type = level(t.type);
    if (!LEVEL_COLUMN[type]) throw badRequest(`targets[${i}].type: '${t.type}' is not project, subject, session or acquisition`);
    if (!OBJECT_ID.test(t.id)) throw badRequest(`targets[${i}].id: '${t.id}' is not a 24-hex container id`);
    try {
      targets.push(await access.requireContainer(type, t.id, 'containers_view_metadata'));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) throw badRequest(`targets[${i}]: ${type} ${t.id} not found`);
      throw e;
    }
  }
  const config = resolveConfig(gear.manifest, b.config);
  const policy = b.optional_input_policy ?? 'ignored';
  const analysis = isAnalysisBatch(gear, b);
  const actions = launchActions(analysis);
  // Containers where the launcher may not use the priority asked for are shown as improper at once.
  const priority = b.priority ?? 'medium';
  const summary: Summary = { matched: [], ambiguous: [], not_matched: [], improper_permissions: [] };
  const docs: Record<'matched' | 'ambiguous' | 'not_matched', JsonObject[]> = { matched: [], ambiguous: [], not_matched: [] };
  const entries: ProposalEntry[] = [];
  const inputs = fileInputs(gear);

  if (!inputs.length) {
    // Gears without file inputs ("SDK gears") run once per session.
    for (const s of await containersUnder(ctx, targets, 'session')) {
      if (!(await mayLaunch(access, s, actions, priority))) {
        summary.improper_permissions.push(s.id);
        continue;
      }
      summary.matched.push(s.id);
      docs.matched.push(containerEntry(s, []));
      entries.push({ container: { type: s.type, id: s.id }, inputs: {} });
    }
  } else {
    const acquisitions = await containersUnder(ctx, targets, 'acquisition');
    const files = await currentFiles(
      ctx.handle.db,
      acquisitions.map((a) => a.id),
    );
    for (const acq of acquisitions) {
      const list = files.get(acq.id) ?? [];
      if (!(await mayLaunch(access, acq, actions, priority))) {
        summary.improper_permissions.push(acq.id);
        continue;
      }
      let missing = false;
      let ambiguous = false;
      const reasons: string[] = [];
      const chosen: Record<string, InputRef> = {};
      for (const [name, spec] of inputs) {
        const fits = list.filter((f) => fileFits(spec, f));
        const needed = spec.optional !== true || policy === 'required';
        if (fits.length === 1 && (needed || policy === 'flexible')) chosen[name] = { type: acq.type, id: acq.id, name: fits[0]!.name };
        if (!needed) continue;
        if (fits.length === 0) {
          missing = true;
          reasons.push(`input ${name}: no file matches (${constraintsOf(spec)}; ${list.length} file${list.length === 1 ? '' : 's'} here)`);
        } else if (fits.length > 1) {
          ambiguous = true;
          const names = fits.slice(0, MAX_NAMED_FILES).map((f) => f.name).join(', ');
          reasons.push(`input ${name}: ${fits.length} files match (${names}${fits.length > MAX_NAMED_FILES ? ', …' : ''})`);
        }
      }
      const verdict = missing ? 'not_matched' : ambiguous ? 'ambiguous' : 'matched';
      summary[verdict].push(acq.id);
      // An unmatched container names only what is missing; an ambiguous one what has too many files.
      const why = reasons.filter((r) => (verdict === 'not_matched' ? r.includes('no file matches') : true)).join('; ');
      docs[verdict].push(containerEntry(acq, list, verdict === 'matched' ? undefined : why));
      if (verdict === 'matched') entries.push({ container: { type: acq.type, id: acq.id }, inputs: chosen });
    }
  }

  const label = typeof b.analysis?.label === 'string' && b.analysis.label ? b.analysis.label : `${gear.manifest.name} ${now().slice(0, 19).replace('T', ' ')}`;
  const proposal: Proposal = {
    entries,
    targets: targets.map((t) => ({ type: t.type, id: t.id })),
    analysis: analysis ? { label, ...(b.analysis?.description ? { description: b.analysis.description } : {}) } : null,
    tags: b.tags ?? [],
    priority: b.priority ?? 'medium',
    optional_input_policy: policy,
  };
  const origin: JobOrigin = { type: 'user', id: p.userId };
  const stamp = now();
  const row: BatchesTable = {
    id: newId(),
    gear_id: gear.row.id,
    state: 'pending',
    origin: JSON.stringify(origin),
    origin_id: p.userId,
    config: JSON.stringify(b.config ?? {}),
    proposal: JSON.stringify(proposal),
    summary: JSON.stringify(summary),
    created: stamp,
    modified: stamp,
  };
  if (!opts.dryRun) await ctx.handle.db.insertInto('batches').values(row).execute();
  // Labels and paths of everything listed and of its subjects and sessions, for tables (one lookup).
  const listed = [...docs.matched, ...docs.ambiguous, ...docs.not_matched];
  const labelIds = [...listed.flatMap((d) => [d._id as string, ...Object.entries(d.parents as JsonObject).flatMap(([k, v]) => (k === 'group' ? [] : [v as string]))]), ...summary.improper_permissions];
  return {
    _id: opts.dryRun ? null : row.id,
    gear_id: row.gear_id,
    config,
    state: 'pending',
    origin,
    optional_input_policy: policy,
    ...docs,
    improper_permissions: summary.improper_permissions,
    proposal: { [inputs.length ? 'inputs' : 'destinations']: entries.map((e) => (inputs.length ? e.inputs : e.container)), analysis: proposal.analysis, tags: proposal.tags },
    containers: Object.fromEntries(await containerLabels(ctx.handle, labelIds)),
    created: row.created,
    modified: row.modified,
  };
}

/** The batch, if the caller launched it or is a site admin (others get a 404). */
export async function loadBatch(ctx: ServerContext, access: AccessContext, id: string): Promise<BatchesTable> {
  const row = await ctx.handle.db.selectFrom('batches').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || !ownsOrAdmin(access.principal, row.origin_id)) throw apiError('BATCH_NOT_FOUND', { id });
  return row;
}

/** The batch's jobs: the latest attempt of each job it launched (retries replace what they retry). */
export async function batchJobs(ctx: ServerContext, batchId: string): Promise<JobsTable[]> {
  return ctx.handle.db.selectFrom('jobs').selectAll().where('batch', '=', batchId).where('retried', 'is', null).orderBy('created').orderBy('id').execute();
}

/** running while anything is queued or running; complete once all ended and any did not fail; else failed. */
export function deriveState(stored: string, jobStates: string[]): string {
  if (stored === 'pending' || stored === 'cancelled') return stored;
  if (jobStates.some((s) => !(TERMINAL_STATES as readonly string[]).includes(s))) return 'running';
  if (jobStates.length && jobStates.every((s) => s === 'failed')) return 'failed';
  return 'complete';
}

/** Beyond Flywheel, for listings: the gear's name and version, and the batch's targets with their paths. */
export interface BatchExtras {
  gear_info?: { id: string; name: string; version: string };
  targets?: { type: string; id: string; path?: string }[];
}

/** The extras of many batches in two lookups (gears, container paths), not one per batch. */
export async function batchExtras(ctx: ServerContext, rows: BatchesTable[]): Promise<Map<string, BatchExtras>> {
  const { db } = ctx.handle;
  const gearIds = [...new Set(rows.map((r) => r.gear_id))];
  const gears = new Map<string, { id: string; name: string; version: string }>();
  for (let i = 0; i < gearIds.length; i += 500) {
    for (const g of await db.selectFrom('gears').select(['id', 'name', 'version']).where('id', 'in', gearIds.slice(i, i + 500)).execute()) gears.set(g.id, g);
  }
  const targetsOf = (r: BatchesTable) => parseJson<Proposal>(r.proposal, { entries: [], analysis: null, tags: [], priority: 'medium', optional_input_policy: 'ignored' }).targets ?? [];
  const labels = await containerLabels(ctx.handle, rows.flatMap((r) => targetsOf(r).map((t) => t.id)));
  const out = new Map<string, BatchExtras>();
  for (const r of rows) {
    out.set(r.id, { ...(gears.has(r.gear_id) ? { gear_info: gears.get(r.gear_id)! } : {}), targets: targetsOf(r).map((t) => ({ ...t, ...(labels.has(t.id) ? { path: labels.get(t.id)!.path } : {}) })) });
  }
  return out;
}

export function batchDoc(row: BatchesTable, jobs: JobsTable[] | string[], states: string[], extras: BatchExtras = {}): JsonObject {
  const summary = parseJson<Summary>(row.summary, { matched: [], ambiguous: [], not_matched: [], improper_permissions: [] });
  const counts: Record<string, number> = {};
  for (const s of states) counts[s] = (counts[s] ?? 0) + 1;
  return {
    _id: row.id,
    gear_id: row.gear_id,
    state: deriveState(row.state, states),
    origin: parseJson<JsonObject>(row.origin, {}),
    config: parseJson<JsonObject>(row.config, {}),
    jobs,
    job_states: counts,
    matched: summary.matched.length,
    ...(summary.skipped?.length ? { skipped: summary.skipped } : {}),
    ...extras,
    created: row.created,
    modified: row.modified,
  };
}

/**
 * `POST /batch/{id}/run`: queues one job per matched container (analyses for analysis gears), all
 * tagged `batch` and carrying the batch id. Entries that can no longer launch are skipped and listed.
 */
export async function runBatch(ctx: ServerContext, access: AccessContext, row: BatchesTable): Promise<JobsTable[]> {
  requireWritableKey(access.principal, 'change batches');
  const { db } = ctx.handle;
  const claimed = await db.updateTable('batches').set({ state: 'launched', modified: now() }).where('id', '=', row.id).where('state', '=', 'pending').executeTakeFirst();
  if (!Number(claimed.numUpdatedRows)) throw apiError('BATCH_STATE', { id: row.id, reason: 'is not pending; it runs once' });
  const proposal = parseJson<Proposal>(row.proposal, { entries: [], analysis: null, tags: [], priority: 'medium', optional_input_policy: 'ignored' });
  const config = parseJson<JsonObject>(row.config, {});
  const origin: JobOrigin = parseJson<JobOrigin>(row.origin, { type: 'user', id: access.principal.userId });
  const skipped: Summary['skipped'] = [];
  let jobIds: string[] = [];

  if (proposal.analysis) {
    for (const e of proposal.entries) {
      try {
        const parent = await access.requireContainer(e.container.type, e.container.id, 'analyses_create_job');
        const { job: jobId } = await createJobAnalysis(ctx, access, parent, {
          label: proposal.analysis.label,
          description: proposal.analysis.description ?? '',
          job: { gear_id: row.gear_id, inputs: e.inputs, config, tags: [...proposal.tags, 'batch'], priority: proposal.priority },
        }, { batch: row.id });
        jobIds.push(jobId);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        skipped.push({ container: e.container.id, reason: err.message });
      }
    }
  } else {
    const prepared: PreparedJob[] = [];
    for (const e of proposal.entries) {
      try {
        prepared.push(
          await prepareJob(
            ctx,
            { gear_id: row.gear_id, inputs: e.inputs, destination: e.container, config, tags: proposal.tags, priority: proposal.priority, batch: row.id },
            { access, origin, extraTags: ['batch'] },
          ),
        );
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        skipped.push({ container: e.container.id, reason: err.message });
      }
    }
    jobIds = (await insertJobs(ctx, prepared)).map((j) => j.id);
  }
  if (skipped.length) {
    const summary = { ...parseJson<Summary>(row.summary, { matched: [], ambiguous: [], not_matched: [], improper_permissions: [] }), skipped };
    await db.updateTable('batches').set({ summary: JSON.stringify(summary) }).where('id', '=', row.id).execute();
  }
  if (!jobIds.length) return [];
  return db.selectFrom('jobs').selectAll().where('id', 'in', jobIds).orderBy('created').orderBy('id').execute();
}

/** `POST /batch/{id}/cancel`: the batch stops; its jobs still queued are cancelled (running ones finish). */
export async function cancelBatch(ctx: ServerContext, access: AccessContext, row: BatchesTable): Promise<number> {
  requireWritableKey(access.principal, 'change batches');
  const { db } = ctx.handle;
  const r = await db.updateTable('batches').set({ state: 'cancelled', modified: now() }).where('id', '=', row.id).where('state', 'in', ['pending', 'launched']).executeTakeFirst();
  if (!Number(r.numUpdatedRows)) throw apiError('BATCH_STATE', { id: row.id, reason: 'is already cancelled' });
  const who = access.principal.userId;
  let n = 0;
  const pending = await db.selectFrom('jobs').selectAll().where('batch', '=', row.id).where('state', '=', 'pending').execute();
  for (const job of pending) {
    try {
      await transitionJob(ctx, job, 'cancelled', { from: ['pending'], log: `Job cancelled with its batch ${row.id} by ${who}.` });
      n++;
    } catch (e) {
      // Claimed by an engine meanwhile: it runs to its end.
      if (!(e instanceof ApiError)) throw e;
    }
  }
  return n;
}

export interface RetryFailedInput {
  exit_codes?: number[];
  memory?: string;
}

/**
 * `POST /batch/{id}/retry-failed` (beyond Flywheel): re-queues the batch's failed jobs in one call,
 * optionally only those that exited with one of `exit_codes`, optionally asking for more memory.
 */
export async function retryFailed(ctx: ServerContext, access: AccessContext, row: BatchesTable, b: RetryFailedInput): Promise<{ retried: string[]; from: string[] }> {
  requireWritableKey(access.principal, 'change batches');
  if (row.state === 'pending') throw apiError('BATCH_STATE', { id: row.id, reason: 'has not run yet' });
  let resources: { memory: string } | undefined;
  if (b.memory !== undefined) {
    const r = parseResources({ memory: b.memory }, 'body');
    if (r.problem) throw badRequest(r.problem);
    resources = { memory: r.value!.memory! };
  }
  const codes = b.exit_codes ? new Set(b.exit_codes) : undefined;
  const failed = (await batchJobs(ctx, row.id)).filter((j) => j.state === 'failed' && (!codes || (j.exit_code !== null && codes.has(j.exit_code))));
  const retried: string[] = [];
  const from: string[] = [];
  for (const job of failed) {
    try {
      const next = await retryJob(ctx, job, { resources });
      retried.push(next.id);
      from.push(job.id);
    } catch (e) {
      // Retried by someone else meanwhile, or its gear is gone: nothing to re-queue.
      if (!(e instanceof ApiError)) throw e;
    }
  }
  return { retried, from };
}

