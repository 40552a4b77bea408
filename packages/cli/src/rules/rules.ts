import type { Client, Project, Rule, RuleCondition } from '@sprocket/sdk';
import { CONDITION_TYPES, isConditionType } from '@sprocket/types';
import { CliError } from '../errors.js';
import { lookupContainer } from '../paths.js';

/**
 * `file.type=dicom`, or `file.name~=<regex>` for a regular expression; the type is checked here
 * so a typo is reported before the request.
 */
export function parseCondition(text: string): RuleCondition {
  const m = /^([a-z.-]+)(~?=)(.*)$/.exec(text);
  if (!m?.[3])
    throw new CliError(`not a condition: '${text}' (write <type>=<value> or <type>~=<regex>, type one of ${CONDITION_TYPES.join(', ')})`);
  if (!isConditionType(m[1]!)) throw new CliError(`unknown condition type '${m[1]}' in '${text}' (one of ${CONDITION_TYPES.join(', ')})`);
  return { type: m[1]!, value: m[3], ...(m[2] === '~=' ? { regex: true } : {}) };
}

export function conditionText(c: RuleCondition): string {
  return `${c.type}${c.regex ? '~=' : '='}${c.value}`;
}

export function conditionsText(r: Rule): string {
  const parts: string[] = [];
  if (r.any?.length) parts.push(`any(${r.any.map(conditionText).join(', ')})`);
  if (r.all?.length) parts.push(`all(${r.all.map(conditionText).join(', ')})`);
  if (r.not?.length) parts.push(`not(${r.not.map(conditionText).join(', ')})`);
  return parts.join(' ');
}

export async function projectAt(client: Client, path: string): Promise<Project> {
  const c = await lookupContainer(client, path, 'a project');
  if (c.containerType !== 'project') throw new CliError(`${path} is a ${c.containerType}: gear rules belong to projects`);
  return c as Project;
}

/** A rule of the project by id, or by its name when exactly one rule has it. */
export async function findRule(client: Client, project: Project, ref: string): Promise<Rule> {
  const rules = await client.getProjectRules(project.id);
  const byId = rules.find((r) => r.id === ref);
  if (byId) return byId;
  const named = rules.filter((r) => r.name === ref);
  if (named.length === 1) return named[0]!;
  if (named.length > 1) throw new CliError(`${named.length} rules are named '${ref}': use the id (${named.map((r) => r.id).join(', ')})`);
  throw new CliError(`no rule '${ref}' on project ${project.label} (see 'sprocket rule ls')`);
}
