import { CONDITION_TYPES, type FileInputSpec, type GearManifest, isConditionType, JOB_PRIORITIES, OBJECT_ID } from '@sprocket/types';
import type { ServerContext } from '../context.js';
import { getCurrentFile } from '../dao/files.js';
import { isPlainObject, type JsonObject, parseJson } from '../dao/json.js';
import type { GearRulesTable } from '../db/schema.js';
import { badRequest } from '../errors.js';
import { userRegexProblem } from '../http/user-regex.js';
import { now } from '../ids.js';
import { getGear, type LoadedGear, requiredFileInputs, requiresReadWriteKey } from './gears.js';
import { fileMismatch, resolveConfig } from './invocation.js';
import type { Condition, FixedInput } from './rule-conditions.js';

/**
 * What a gear rule must satisfy to be saved (reference §2.12, `kofalt/core:api/jobs/handlers.py`
 * RulesHandler), and the rule document the API shows.
 */

/** A rule as the API receives it (POST whole, PUT partial). */
export interface RuleInput {
  gear_id?: string;
  name?: string;
  config?: JsonObject | null;
  fixed_inputs?: FixedInput[] | null;
  auto_update?: boolean;
  any?: Condition[];
  all?: Condition[];
  not?: Condition[];
  disabled?: boolean;
  priority?: string | null;
  compute_provider_id?: string | null;
}

const CONDITION = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'value'],
  properties: { type: { type: 'string' }, value: { type: 'string' }, regex: { type: 'boolean' } },
} as const;

const FIXED = {
  type: 'object',
  required: ['input', 'type', 'id', 'name'],
  properties: {
    input: { type: 'string' },
    type: { type: 'string' },
    id: { type: 'string' },
    name: { type: 'string' },
    base: {},
    found: {},
  },
} as const;

export const ruleBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    _id: { type: 'string' },
    project_id: { type: 'string' },
    gear_id: { type: 'string' },
    name: { type: 'string', maxLength: 256 },
    config: { anyOf: [{ type: 'object' }, { type: 'null' }] },
    fixed_inputs: { anyOf: [{ type: 'array', items: FIXED }, { type: 'null' }] },
    auto_update: { type: 'boolean' },
    any: { type: 'array', items: CONDITION },
    all: { type: 'array', items: CONDITION },
    not: { type: 'array', items: CONDITION },
    disabled: { type: 'boolean' },
    priority: { anyOf: [{ enum: Object.keys(JOB_PRIORITIES) }, { type: 'null' }] },
    compute_provider_id: { anyOf: [{ type: 'string' }, { type: 'null' }] },
  },
} as const;

function checkConditions(list: Condition[] | undefined, key: string): void {
  for (const [i, c] of (list ?? []).entries()) {
    const where = `${key}[${i}]`;
    if (!isConditionType(c.type)) throw badRequest(`${where}.type: '${c.type}' is not a condition type (${CONDITION_TYPES.join(', ')})`);
    if (!c.value) throw badRequest(`${where}.value: must be a non-empty string`);
    if (c.regex) {
      const problem = userRegexProblem(c.value, 'i');
      if (problem) throw badRequest(`${where}.value: ${problem}`);
    }
  }
}

/** Why a gear cannot drive a rule (with these fixed inputs), or undefined when it can. */
export function gearRuleProblem(m: GearManifest, fixed: FixedInput[]): string | undefined {
  if (requiresReadWriteKey(m)) return 'Cannot create rule with a gear that requires a read-write api-key';
  const pinned = new Set(fixed.map((f) => f.input));
  const open = requiredFileInputs(m).filter((k) => !pinned.has(k));
  if (open.length !== 1) {
    return `gear ${m.name} must have exactly one required file input that fixed_inputs does not pin (it has ${open.length}${open.length ? `: ${open.join(', ')}` : ''})`;
  }
  return undefined;
}

/**
 * Checks a complete rule against its project and gear; throws a 400 naming the field. Returns the
 * gear so the caller can store its name.
 */
export async function checkRule(ctx: ServerContext, projectId: string, r: RuleInput): Promise<LoadedGear> {
  if (typeof r.name !== 'string' || !r.name.trim()) throw badRequest('name: required (a label for the rule)');
  if (typeof r.gear_id !== 'string' || !OBJECT_ID.test(r.gear_id)) throw badRequest('gear_id: must be a 24-hex gear id');
  const gear = await getGear(ctx, r.gear_id);
  if (!gear) throw badRequest(`gear_id: gear ${r.gear_id} not found`);
  if (gear.row.disabled) throw badRequest(`gear_id: gear ${gear.manifest.name} ${gear.manifest.version} is disabled`);
  checkConditions(r.any, 'any');
  checkConditions(r.all, 'all');
  checkConditions(r.not, 'not');
  if (!(r.any?.length || r.all?.length || r.not?.length)) throw badRequest('any/all/not: a rule needs at least one condition');
  const fixed = r.fixed_inputs ?? [];
  const config = r.config ?? undefined;
  if (r.auto_update && (fixed.length || (config && Object.keys(config).length))) {
    throw badRequest('auto_update: cannot be combined with config or fixed_inputs (a new gear version may not accept them)');
  }
  const problem = gearRuleProblem(gear.manifest, fixed);
  if (problem) throw badRequest(problem.startsWith('Cannot') ? problem : `gear_id: ${problem}`);
  resolveConfig(gear.manifest, config);
  const seen = new Set<string>();
  for (const [i, f] of fixed.entries()) {
    const where = `fixed_inputs[${i}]`;
    const spec = gear.manifest.inputs?.[f.input];
    if (spec?.base !== 'file') throw badRequest(`${where}.input: '${f.input}' is not a file input of gear ${gear.manifest.name}`);
    if (seen.has(f.input)) throw badRequest(`${where}.input: '${f.input}' is pinned twice`);
    seen.add(f.input);
    if (!OBJECT_ID.test(f.id)) throw badRequest(`${where}.id: '${f.id}' is not a 24-hex container id`);
    const holder = await ctx.handle.db.selectFrom('containers').selectAll().where('id', '=', f.id).executeTakeFirst();
    if (!holder || (holder.project_id ?? holder.id) !== projectId) throw badRequest(`${where}: container ${f.id} is not in this project`);
    const file = await getCurrentFile(ctx.handle.db, holder.id, f.name);
    if (!file) throw badRequest(`${where}.name: file '${f.name}' not found on ${holder.type} ${holder.id}`);
    const why = fileMismatch(spec as FileInputSpec, file);
    if (why) throw badRequest(`${where}: file '${f.name}' does not match input '${f.input}': ${why}`);
    f.type = holder.type;
  }
  return gear;
}

/** The stored row of a checked rule. */
export function ruleRow(
  base: Pick<GearRulesTable, 'id' | 'project_id' | 'created_by' | 'created'>,
  r: RuleInput,
  gear: LoadedGear,
): GearRulesTable {
  const config = r.config && Object.keys(r.config).length ? JSON.stringify(r.config) : null;
  const strip = (list: Condition[] | undefined) =>
    JSON.stringify((list ?? []).map((c) => ({ type: c.type, value: c.value, ...(c.regex ? { regex: true } : {}) })));
  return {
    ...base,
    gear_id: gear.row.id,
    gear_name: gear.manifest.name,
    name: r.name!.trim(),
    config,
    fixed_inputs: JSON.stringify((r.fixed_inputs ?? []).map((f) => ({ input: f.input, type: f.type, id: f.id, name: f.name }))),
    auto_update: r.auto_update ? 1 : 0,
    any_of: strip(r.any),
    all_of: strip(r.all),
    none_of: strip(r.not),
    disabled: r.disabled ? 1 : 0,
    priority: r.priority ?? null,
    compute_provider_id: r.compute_provider_id ?? null,
    modified: now(),
  };
}

/** The rule as the API shows it (Flywheel's Rule model; `not` is the JSON key the SDK's `_not` maps to). */
export function ruleDoc(row: GearRulesTable): JsonObject {
  return {
    _id: row.id,
    project_id: row.project_id,
    gear_id: row.gear_id,
    name: row.name,
    config: parseJson<JsonObject>(row.config, {}),
    fixed_inputs: parseJson<FixedInput[]>(row.fixed_inputs, []),
    auto_update: row.auto_update === 1,
    any: parseJson<Condition[]>(row.any_of, []),
    all: parseJson<Condition[]>(row.all_of, []),
    not: parseJson<Condition[]>(row.none_of, []),
    disabled: row.disabled === 1,
    priority: row.priority,
    compute_provider_id: row.compute_provider_id,
    created: row.created,
    modified: row.modified,
  };
}

/** The input form of a stored rule, for merging a partial update over it. */
export function ruleInputOf(row: GearRulesTable): RuleInput {
  const doc = ruleDoc(row);
  return {
    gear_id: row.gear_id,
    name: row.name,
    config: isPlainObject(doc.config) && Object.keys(doc.config).length ? doc.config : null,
    fixed_inputs: doc.fixed_inputs as FixedInput[],
    auto_update: row.auto_update === 1,
    any: doc.any as Condition[],
    all: doc.all as Condition[],
    not: doc.not as Condition[],
    disabled: row.disabled === 1,
    priority: row.priority,
    compute_provider_id: row.compute_provider_id,
  };
}

/**
 * A new gear version was uploaded: `auto_update` rules on older versions of the same name follow it
 * when it comes from the same owner as the version the rule runs now (a name handed to someone else
 * does not carry other projects' rules along) and could drive them. Notes say why a rule stays, but
 * only about rules in projects `mayMention` allows: an uploader learns nothing of projects they
 * cannot see.
 */
export async function followNewGearVersion(
  ctx: ServerContext,
  gear: LoadedGear,
  mayMention: (projectId: string) => Promise<boolean>,
): Promise<string[]> {
  const { db } = ctx.handle;
  if (gear.row.disabled) return [];
  const rows = await db
    .selectFrom('gear_rules')
    .leftJoin('gears', 'gears.id', 'gear_rules.gear_id')
    .selectAll('gear_rules')
    .select(['gears.id as current_gear', 'gears.owner_id as current_owner'])
    .where('gear_rules.gear_name', '=', gear.manifest.name)
    .where('gear_rules.auto_update', '=', 1)
    .where('gear_rules.gear_id', '!=', gear.row.id)
    .execute();
  const notes: string[] = [];
  const follow: string[] = [];
  for (const row of rows) {
    let problem: string | undefined;
    // A rule whose gear was deleted has no owner to compare with: it stays rather than guess.
    if (row.current_gear === null) problem = 'the version it runs was deleted, so its owner is unknown';
    else if (row.current_owner !== gear.row.owner_id) problem = 'the new version has a different owner than the version it runs';
    else problem = gearRuleProblem(gear.manifest, parseJson<FixedInput[]>(row.fixed_inputs, []));
    if (!problem) follow.push(row.id);
    else if (await mayMention(row.project_id)) notes.push(`gear rule ${row.id} ('${row.name}') stays on its current version: ${problem}`);
  }
  if (follow.length) await db.updateTable('gear_rules').set({ gear_id: gear.row.id, modified: now() }).where('id', 'in', follow).execute();
  return notes;
}
