import { type Action, type FileInputSpec, type JobPriority, OBJECT_ID, SINGULAR } from '@sprocket/types';
import type { AccessContext } from '../auth/access.js';
import { requireMayLaunch } from '../auth/job-access.js';
import type { ServerContext } from '../context.js';
import { currentFiles, parentsOf } from '../dao/containers.js';
import { fileDoc } from '../dao/files.js';
import { isPlainObject, type JsonObject } from '../dao/json.js';
import type { BatchesTable, ContainersTable, FilesTable } from '../db/schema.js';
import { ApiError, badRequest } from '../errors.js';
import { newId, now } from '../ids.js';
import { getGear, type LoadedGear } from './gears.js';
import { fileFits, resolveConfig } from './invocation.js';
import { type InputRef, type JobOrigin, priorityAllowed } from './launch.js';
import { containerLabels } from './listing.js';

/**
 * A batch proposal (`POST /batch`, reference §2.11): the gear's file inputs matched against every
 * container under the targets, each container matched, ambiguous, not matched or out of the
 * launcher's reach. Running and following a batch is batch.ts.
 */

export const OPTIONAL_INPUT_POLICIES = ['ignored', 'flexible', 'required'] as const;
export type OptionalInputPolicy = (typeof OPTIONAL_INPUT_POLICIES)[number];

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
export interface ProposalEntry {
  container: { type: string; id: string };
  inputs: Record<string, InputRef>;
}

export interface Proposal {
  entries: ProposalEntry[];
  /** The containers the batch was proposed over (absent in batches proposed before it was kept). */
  targets?: { type: string; id: string }[];
  analysis: { label: string; description?: string } | null;
  tags: string[];
  priority: JobPriority;
  optional_input_policy: OptionalInputPolicy;
}

export interface Summary {
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
async function containersUnder(
  ctx: ServerContext,
  targets: ContainersTable[],
  level: 'acquisition' | 'session',
): Promise<ContainersTable[]> {
  const out = new Map<string, ContainersTable>();
  for (const t of targets) {
    if (t.type === level) {
      out.set(t.id, t);
      continue;
    }
    if (level === 'session' && t.type === 'acquisition') {
      const s = t.session_id
        ? await ctx.handle.db.selectFrom('containers').selectAll().where('id', '=', t.session_id).executeTakeFirst()
        : undefined;
      if (s) out.set(s.id, s);
      continue;
    }
    const rows = await ctx.handle.db
      .selectFrom('containers')
      .selectAll()
      .where('type', '=', level)
      .where(LEVEL_COLUMN[t.type]!, '=', t.id)
      .orderBy('created')
      .orderBy('id')
      .execute();
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

/** The targets, all of one level and visible to the launcher. */
async function batchTargets(access: AccessContext, given: BatchInput['targets']): Promise<ContainersTable[]> {
  if (!given.length) throw badRequest('targets: at least one container {type, id}');
  const types = new Set(given.map((t) => level(t.type)));
  if (types.size > 1) throw badRequest(`targets: all targets must be of one container type (got ${[...types].join(', ')})`);
  const targets: ContainersTable[] = [];
  for (const [i, t] of given.entries()) {
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
  return targets;
}

type Listed = Record<'matched' | 'ambiguous' | 'not_matched', JsonObject[]>;

/**
 * One acquisition against the gear's file inputs: matched when each needed input has exactly one
 * fitting file, ambiguous when one has several, not matched when one has none.
 */
function matchAcquisition(acq: ContainersTable, list: FilesTable[], inputs: [string, FileInputSpec][], policy: OptionalInputPolicy) {
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
      const names = fits
        .slice(0, MAX_NAMED_FILES)
        .map((f) => f.name)
        .join(', ');
      reasons.push(`input ${name}: ${fits.length} files match (${names}${fits.length > MAX_NAMED_FILES ? ', …' : ''})`);
    }
  }
  const verdict = missing ? 'not_matched' : ambiguous ? 'ambiguous' : 'matched';
  // An unmatched container names only what is missing; an ambiguous one what has too many files.
  const why = reasons.filter((r) => (verdict === 'not_matched' ? r.includes('no file matches') : true)).join('; ');
  return { verdict, why, chosen } as const;
}

/** Every container under the targets the batch would run on, judged; what running it launches. */
async function matchContainers(
  ctx: ServerContext,
  access: AccessContext,
  targets: ContainersTable[],
  inputs: [string, FileInputSpec][],
  how: { actions: Action[]; priority: JobPriority; policy: OptionalInputPolicy },
): Promise<{ summary: Summary; docs: Listed; entries: ProposalEntry[] }> {
  const { actions, priority } = how;
  const summary: Summary = { matched: [], ambiguous: [], not_matched: [], improper_permissions: [] };
  const docs: Listed = { matched: [], ambiguous: [], not_matched: [] };
  const entries: ProposalEntry[] = [];
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
    return { summary, docs, entries };
  }
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
    const { verdict, why, chosen } = matchAcquisition(acq, list, inputs, how.policy);
    summary[verdict].push(acq.id);
    docs[verdict].push(containerEntry(acq, list, verdict === 'matched' ? undefined : why));
    if (verdict === 'matched') entries.push({ container: { type: acq.type, id: acq.id }, inputs: chosen });
  }
  return { summary, docs, entries };
}

/**
 * `POST /batch`: matches the gear against the containers under the targets and stores the proposal
 * (a pending batch, to run or cancel). `dryRun` stores nothing: the reply has `_id: null`.
 */
export async function proposeBatch(
  ctx: ServerContext,
  access: AccessContext,
  b: BatchInput,
  opts: { dryRun?: boolean } = {},
): Promise<JsonObject> {
  const p = access.principal;
  requireMayLaunch(access);
  if (!OBJECT_ID.test(b.gear_id)) throw badRequest('gear_id: must be a 24-hex gear id');
  const gear = await getGear(ctx, b.gear_id);
  if (!gear) throw badRequest(`gear_id: gear ${b.gear_id} not found`);
  if (gear.row.disabled) throw badRequest(`gear_id: gear ${gear.manifest.name} ${gear.manifest.version} is disabled`);
  const targets = await batchTargets(access, b.targets);
  const config = resolveConfig(gear.manifest, b.config);
  const policy = b.optional_input_policy ?? 'ignored';
  const analysis = isAnalysisBatch(gear, b);
  const actions = launchActions(analysis);
  // Containers where the launcher may not use the priority asked for are shown as improper at once.
  const priority = b.priority ?? 'medium';
  const inputs = fileInputs(gear);
  const { summary, docs, entries } = await matchContainers(ctx, access, targets, inputs, { actions, priority, policy });

  const label =
    typeof b.analysis?.label === 'string' && b.analysis.label
      ? b.analysis.label
      : `${gear.manifest.name} ${now().slice(0, 19).replace('T', ' ')}`;
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
  const labelIds = [
    ...listed.flatMap((d) => [
      d._id as string,
      ...Object.entries(d.parents as JsonObject).flatMap(([k, v]) => (k === 'group' ? [] : [v as string])),
    ]),
    ...summary.improper_permissions,
  ];
  return {
    _id: opts.dryRun ? null : row.id,
    gear_id: row.gear_id,
    config,
    state: 'pending',
    origin,
    optional_input_policy: policy,
    ...docs,
    improper_permissions: summary.improper_permissions,
    proposal: {
      [inputs.length ? 'inputs' : 'destinations']: entries.map((e) => (inputs.length ? e.inputs : e.container)),
      analysis: proposal.analysis,
      tags: proposal.tags,
    },
    containers: Object.fromEntries(await containerLabels(ctx.handle, labelIds)),
    created: row.created,
    modified: row.modified,
  };
}
