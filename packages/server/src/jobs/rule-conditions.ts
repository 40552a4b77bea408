import type { ConditionType } from '@sprocket/types';
import RE2 from 're2';
import { parseJson } from '../dao/json.js';
import type { FilesTable, GearRulesTable } from '../db/schema.js';

/**
 * Which files a gear rule fires for (reference §2.12): its conditions on a file and on the other
 * files of its container, compiled once per evaluation.
 */

export interface Condition {
  type: ConditionType;
  value: string;
  regex?: boolean;
}

export interface FixedInput {
  input: string;
  type: string;
  id: string;
  name: string;
}

type Test = (s: string) => boolean;

/**
 * Shell glob as Python's fnmatch reads it: `*`, `?`, `[seq]`, `[!seq]`; the whole name must match.
 * Compiled with RE2: under a backtracking engine a glob of many `*`s costs polynomial time per name.
 */
export function globRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      // As fnmatch: a `]` first in the set (after an optional `!`) is a member, not the end.
      let j = i + 1;
      if (glob[j] === '!') j++;
      if (glob[j] === ']') j++;
      const end = glob.indexOf(']', j);
      if (end === -1) out += '\\[';
      else {
        let body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        else if (body.startsWith('^')) body = `\\${body}`;
        out += `[${body.replace(/\[/g, '\\[').replace(/]/g, '\\]')}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RE2(`^(?:${out})$`, 'is');
}

/** A condition's string test: case-insensitive equality, glob for file.name, or a regex matched at the start. */
export function conditionTest(c: Condition): Test {
  if (c.regex) {
    // RE2 (linear time): a rule's pattern runs on every new file of its project. One that RE2
    // refuses (saved before patterns were checked against RE2) matches nothing rather than failing
    // the upload that triggered the rule.
    let re: RE2;
    try {
      re = new RE2(`^(?:${c.value})`, 'i');
    } catch {
      return () => false;
    }
    return (s) => re.test(s);
  }
  if (c.type === 'file.name') {
    const re = globRegExp(c.value);
    return (s) => re.test(s);
  }
  const want = c.value.toLowerCase();
  return (s) => s.toLowerCase() === want;
}

function classificationValues(f: FilesTable): string[] {
  const c = parseJson<Record<string, unknown>>(f.classification, {});
  return Object.values(c).flatMap((v) =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [],
  );
}

/** What container.has-* conditions look at, gathered once per container rather than once per file. */
export interface ContainerFacts {
  types: string[];
  classifications: string[];
}

export function containerFacts(files: FilesTable[]): ContainerFacts {
  const types = new Set<string>();
  const classifications = new Set<string>();
  for (const f of files) {
    if (f.type !== null) types.add(f.type);
    for (const v of classificationValues(f)) classifications.add(v);
  }
  return { types: [...types], classifications: [...classifications] };
}

type Matcher = (f: FilesTable, container: ContainerFacts) => boolean;

function compileCondition(c: Condition): Matcher {
  const test = conditionTest(c);
  switch (c.type) {
    case 'file.type':
      return (f) => f.type !== null && test(f.type);
    case 'file.name':
      return (f) => test(f.name);
    case 'file.modality':
      return (f) => f.modality !== null && test(f.modality);
    case 'file.classification':
      return (f) => classificationValues(f).some(test);
    case 'container.has-type':
      return (_f, all) => all.types.some(test);
    case 'container.has-classification':
      return (_f, all) => all.classifications.some(test);
  }
}

/** A stored rule, parsed once per evaluation. */
export interface RuleDef {
  row: GearRulesTable;
  any: Matcher[];
  all: Matcher[];
  not: Matcher[];
  fixed: FixedInput[];
}

export function ruleDef(row: GearRulesTable): RuleDef {
  const list = (text: string) => parseJson<Condition[]>(text, []).map(compileCondition);
  return {
    row,
    any: list(row.any_of),
    all: list(row.all_of),
    not: list(row.none_of),
    fixed: parseJson<FixedInput[]>(row.fixed_inputs, []),
  };
}

/** Fires when no `not` matches, at least one `any` does (if there are any), and every `all` does. */
export function ruleMatches(rule: RuleDef, f: FilesTable, container: ContainerFacts): boolean {
  if (rule.not.some((m) => m(f, container))) return false;
  if (rule.any.length && !rule.any.some((m) => m(f, container))) return false;
  return rule.all.every((m) => m(f, container));
}
