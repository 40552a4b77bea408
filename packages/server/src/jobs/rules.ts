import { JOB_PRIORITIES, type JobPriority } from '@sprocket/types';
import type { ServerContext } from '../context.js';
import { isPlainObject, type JsonObject, parseJson } from '../dao/json.js';
import type { ContainersTable, FilesTable, GearRulesTable, JobsTable } from '../db/schema.js';
import { ApiError } from '../errors.js';
import { getGear } from './gears.js';
import { type JobOrigin, prepareJob } from './launch.js';
import { insertJobs, type PreparedJob } from './queue.js';
import { containerFacts, type FixedInput, type RuleDef, ruleDef, ruleMatches } from './rule-conditions.js';

/**
 * Gear rules (reference §2.12): the before/after comparison that turns a change to a container's
 * files into exactly the jobs that change makes new, and launching them. Which files a rule fires
 * for is rule-conditions.ts; what a rule must satisfy to be saved, rule-checks.ts.
 */

/** Containers whose files rules watch (analyses are outputs, not data). */
export const RULE_LEVELS = new Set(['project', 'subject', 'session', 'acquisition']);

/** Files that may trigger: outputs of failed jobs never do. */
function triggering(files: FilesTable[]): FilesTable[] {
  return files.filter((f) => !f.from_failed_job);
}

/** A job a rule would launch: its identity is (gear, inputs, destination). */
export interface Candidate {
  key: string;
  rule: RuleDef;
  input: string;
  file: FilesTable;
}

/** The one non-fixed required file input a rule's gear takes (checked when the rule is saved). */
async function ruleInput(ctx: ServerContext, rule: RuleDef): Promise<string | undefined> {
  const gear = await getGear(ctx, rule.row.gear_id);
  if (!gear) return undefined;
  const fixed = new Set(rule.fixed.map((x) => x.input));
  return Object.entries(gear.manifest.inputs ?? {}).find(([k, s]) => s.base === 'file' && s.optional !== true && !fixed.has(k))?.[0];
}

function candidateKey(gearId: string, input: string, f: FilesTable, fixed: FixedInput[]): string {
  const pinned = fixed.map((x) => `${x.input}=${x.id}/${x.name}`).sort();
  return [gearId, `${input}=${f.container_id}/${f.name}`, ...pinned, `dest=${f.container_id}`].join('\u0000');
}

/** Every job the rules would launch for the files of one container, by identity. */
export async function candidatesFor(ctx: ServerContext, rules: RuleDef[], files: FilesTable[]): Promise<Map<string, Candidate>> {
  const out = new Map<string, Candidate>();
  const eligible = triggering(files);
  const facts = containerFacts(eligible);
  for (const rule of rules) {
    const input = await ruleInput(ctx, rule);
    if (!input) continue;
    for (const f of eligible) {
      if (!ruleMatches(rule, f, facts)) continue;
      const key = candidateKey(rule.row.gear_id, input, f, rule.fixed);
      if (!out.has(key)) out.set(key, { key, rule, input, file: f });
    }
  }
  return out;
}

export async function enabledRules(ctx: ServerContext, projectId: string): Promise<RuleDef[]> {
  const rows = await ctx.handle.db
    .selectFrom('gear_rules')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('disabled', '=', 0)
    .orderBy('created')
    .orderBy('id')
    .execute();
  return rows.map(ruleDef);
}

export function ruleOrigin(row: GearRulesTable): JobOrigin {
  return { type: 'system', id: `rule:${row.id}`, via: { type: 'rule', id: row.id, user: row.created_by } };
}

/** Builds (without storing) the job a candidate stands for. */
export async function prepareRuleJob(ctx: ServerContext, holder: ContainersTable, c: Candidate): Promise<PreparedJob> {
  const { row } = c.rule;
  const inputs: Record<string, unknown> = { [c.input]: { type: holder.type, id: holder.id, name: c.file.name } };
  for (const x of c.rule.fixed) inputs[x.input] = { type: x.type, id: x.id, name: x.name };
  const config = row.config ? parseJson<JsonObject>(row.config, {}) : undefined;
  const priority = row.priority && row.priority in JOB_PRIORITIES ? (row.priority as JobPriority) : undefined;
  return prepareJob(
    ctx,
    { gear_id: row.gear_id, inputs, destination: { type: holder.type, id: holder.id }, config, priority },
    { origin: ruleOrigin(row), extraTags: ['auto'] },
  );
}

function warn(msg: string): void {
  process.emitWarning(msg, { code: 'SPROCKET_GEAR_RULE' });
}

/** Prepares and stores the candidates' jobs; a candidate that cannot run is reported, not thrown. */
async function launch(ctx: ServerContext, holder: ContainersTable, list: Candidate[]): Promise<JobsTable[]> {
  const prepared: PreparedJob[] = [];
  for (const c of list) {
    try {
      prepared.push(await prepareRuleJob(ctx, holder, c));
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      warn(
        `gear rule ${c.rule.row.id} ('${c.rule.row.name}') did not launch for ${holder.type} ${holder.id} file '${c.file.name}': ${e.message}`,
      );
    }
  }
  return insertJobs(ctx, prepared);
}

/**
 * The reference's before/after comparison for one change to a container's files: `written` are the
 * rows as this change left them, `replaced` the rows they superseded (the same row for a metadata
 * edit, the previous version for new content). Jobs are launched only for candidates that exist after
 * the change and did not before, or whose input file got new content.
 */
export async function evaluateChange(
  ctx: ServerContext,
  container: ContainersTable,
  written: FilesTable[],
  replaced: FilesTable[],
): Promise<JobsTable[]> {
  if (!RULE_LEVELS.has(container.type) || !written.length) return [];
  const projectId = container.project_id ?? container.id;
  const rules = await enabledRules(ctx, projectId);
  if (!rules.length) return [];
  const current = await ctx.handle.db
    .selectFrom('files')
    .selectAll()
    .where('container_id', '=', container.id)
    .where('current', '=', 1)
    .execute();
  // This change's own rows stand for their names, whatever landed since: each change is judged on itself.
  const after = new Map(current.map((f) => [f.name, f]));
  for (const w of written) after.set(w.name, w);
  const before = new Map(after);
  for (const w of written) before.delete(w.name);
  for (const r of replaced) before.set(r.name, r);
  const was = await candidatesFor(ctx, rules, [...before.values()]);
  const now = await candidatesFor(ctx, rules, [...after.values()]);
  const newContent = new Set<string>();
  for (const w of written) {
    const prev = replaced.find((r) => r.name === w.name);
    if (prev && prev.id !== w.id && prev.hash !== w.hash) newContent.add(w.name);
  }
  const fresh = [...now.values()].filter((c) => !was.has(c.key) || newContent.has(c.file.name));
  return fresh.length ? launch(ctx, container, fresh) : [];
}

/** Job outputs count once their job has succeeded; until then the job's completion evaluates them. */
async function producingJobState(ctx: ServerContext, written: FilesTable[]): Promise<'now' | 'later' | 'never'> {
  const origin = parseJson<JsonObject>(written[0]!.origin, {});
  if (origin.type !== 'job' || typeof origin.id !== 'string') return 'now';
  const job = await ctx.handle.db
    .selectFrom('jobs')
    .select(['state', 'failed_output_accepted'])
    .where('id', '=', origin.id)
    .executeTakeFirst();
  if (!job) return 'now';
  if (job.state === 'complete' || job.failed_output_accepted === 1) return 'now';
  if (job.state === 'running' && written.every((f) => !f.from_failed_job)) return 'later';
  return 'never';
}

/** Gear rules follow file commits and job completions on this server. */
export function installGearRules(ctx: ServerContext): void {
  ctx.events.on('filesCommitted', (e) => onFilesCommitted(ctx, e.container, e.written, e.replaced));
  ctx.events.on('job', async (e) => {
    if (e.type === 'state' && e.job.state === 'complete') await onJobComplete(ctx, e.job);
  });
}

/** The filesCommitted listener. Never throws: a rule problem must not fail the write that caused it. */
export async function onFilesCommitted(
  ctx: ServerContext,
  container: ContainersTable,
  written: FilesTable[],
  replaced: FilesTable[],
): Promise<void> {
  try {
    if (!RULE_LEVELS.has(container.type) || !written.length) return;
    if ((await producingJobState(ctx, written)) !== 'now') return;
    await evaluateChange(ctx, container, written, replaced);
  } catch (e) {
    warn(`gear rules not evaluated for ${container.type} ${container.id}: ${(e as Error).message}`);
  }
}

/** When a job completes, its outputs (held back at upload) are judged against what they replaced. */
export async function onJobComplete(ctx: ServerContext, job: JobsTable): Promise<void> {
  try {
    if (!RULE_LEVELS.has(job.destination_type)) return;
    const names = parseJson<string[]>(job.saved_files, []);
    if (!names.length) return;
    const { db } = ctx.handle;
    const dest = await db.selectFrom('containers').selectAll().where('id', '=', job.destination_id).executeTakeFirst();
    if (!dest) return;
    const rows = await db
      .selectFrom('files')
      .selectAll()
      .where('container_id', '=', dest.id)
      .where('name', 'in', names)
      .where('current', '=', 1)
      .execute();
    const written = rows.filter((f) => parseJson<JsonObject>(f.origin, {}).id === job.id && !f.from_failed_job);
    if (!written.length) return;
    const replaced: FilesTable[] = [];
    for (const w of written) {
      if (w.version <= 1) continue;
      const prev = await db
        .selectFrom('files')
        .selectAll()
        .where('file_id', '=', w.file_id)
        .where('container_id', '=', dest.id)
        .where('version', '=', w.version - 1)
        .executeTakeFirst();
      if (prev) replaced.push(prev);
    }
    await evaluateChange(ctx, dest, written, replaced);
  } catch (e) {
    warn(`gear rules not evaluated for the outputs of job ${job.id}: ${(e as Error).message}`);
  }
}

/** Input files (`<container id>/<name>`) this rule has already launched jobs for. */
async function launchedFor(ctx: ServerContext, rule: RuleDef, input: string): Promise<Set<string>> {
  const rows = await ctx.handle.db.selectFrom('jobs').select('inputs').where('origin_id', '=', `rule:${rule.row.id}`).execute();
  const seen = new Set<string>();
  for (const r of rows) {
    const ref = parseJson<JsonObject>(r.inputs, {})[input];
    if (isPlainObject(ref)) seen.add(`${String(ref.id)}/${String(ref.name)}`);
  }
  return seen;
}

export interface ApplyResult {
  /** What was (or, in a dry run, would be) launched. */
  launches: { container: { type: string; id: string; label: string }; file: string; job?: string }[];
  /** Matching files this rule already ran on. */
  already: number;
  /** Matching files whose job could not be prepared, with the reason. */
  refused: { container: { type: string; id: string }; file: string; reason: string }[];
}

/**
 * Runs one rule over the data already in its project: every current file of every container, except
 * files this rule already launched a job for (so applying twice launches nothing new).
 */
export async function applyRule(ctx: ServerContext, row: GearRulesTable, dryRun: boolean): Promise<ApplyResult> {
  const { db } = ctx.handle;
  const rule = ruleDef(row);
  const input = await ruleInput(ctx, rule);
  const result: ApplyResult = { launches: [], already: 0, refused: [] };
  if (!input) return result;
  const seen = await launchedFor(ctx, rule, input);
  const files = await db
    .selectFrom('files')
    .selectAll()
    .where('project_id', '=', row.project_id)
    .where('current', '=', 1)
    .where('container_type', 'in', [...RULE_LEVELS])
    .execute();
  const byContainer = new Map<string, FilesTable[]>();
  for (const f of files) {
    const list = byContainer.get(f.container_id);
    if (list) list.push(f);
    else byContainer.set(f.container_id, [f]);
  }
  const ids = [...byContainer.keys()];
  const holders = new Map<string, ContainersTable>();
  for (let i = 0; i < ids.length; i += 500) {
    for (const c of await db
      .selectFrom('containers')
      .selectAll()
      .where('id', 'in', ids.slice(i, i + 500))
      .execute())
      holders.set(c.id, c);
  }
  const prepared: { job: PreparedJob; at: number }[] = [];
  for (const [cid, list] of byContainer) {
    const holder = holders.get(cid);
    if (!holder) continue;
    for (const c of (await candidatesFor(ctx, [rule], list)).values()) {
      if (seen.has(`${cid}/${c.file.name}`)) {
        result.already++;
        continue;
      }
      const entry = { container: { type: holder.type, id: holder.id, label: holder.label }, file: c.file.name };
      if (dryRun) {
        result.launches.push(entry);
        continue;
      }
      try {
        prepared.push({ job: await prepareRuleJob(ctx, holder, c), at: result.launches.length });
        result.launches.push(entry);
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        result.refused.push({ container: { type: holder.type, id: holder.id }, file: c.file.name, reason: e.message });
      }
    }
  }
  if (prepared.length) {
    const rows = await insertJobs(
      ctx,
      prepared.map((p) => p.job),
    );
    rows.forEach((r, i) => {
      result.launches[prepared[i]!.at]!.job = r.id;
    });
  }
  return result;
}

/** What each rule's jobs came to: jobs it launched, and the states of their latest attempts. */
export interface RuleJobCounts {
  launched: number;
  pending: number;
  running: number;
  complete: number;
  failed: number;
  cancelled: number;
}

/** The counts for the given rules (one grouped query on the jobs' origin index). */
export async function ruleJobCounts(ctx: ServerContext, ruleIds: string[]): Promise<Record<string, RuleJobCounts>> {
  const out: Record<string, RuleJobCounts> = {};
  for (const id of ruleIds) out[id] = { launched: 0, pending: 0, running: 0, complete: 0, failed: 0, cancelled: 0 };
  if (!ruleIds.length) return out;
  const rows = await ctx.handle.db
    .selectFrom('jobs')
    .select(['origin_id', 'state', 'previous_job_id', 'retried'])
    .where(
      'origin_id',
      'in',
      ruleIds.map((id) => `rule:${id}`),
    )
    .execute();
  for (const r of rows) {
    const c = out[r.origin_id!.slice('rule:'.length)];
    if (!c) continue;
    // A retry is the same launch again: counted once, with the state of its newest attempt.
    if (!r.previous_job_id) c.launched++;
    if (!r.retried && r.state in c) c[r.state as keyof RuleJobCounts]++;
  }
  return out;
}
