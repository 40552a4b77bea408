import { FileEntry, type LookupResult } from '@sprocket/sdk';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { lookupPath, typeOf } from '../paths.js';
import { openSession } from '../session.js';

type Json = Record<string, unknown>;
type InfoHolder = { info?: Json; updateInfo(set: Json): Promise<unknown>; deleteInfo(...keys: string[]): Promise<unknown> };

/** Containers below groups and files carry `info`; groups and gears do not. */
async function holderAt(path: string): Promise<InfoHolder> {
  const { client } = openSession();
  const found: LookupResult = await lookupPath(client, path);
  const kind = typeOf(found);
  if (kind === 'group' || kind === 'gear')
    throw new CliError(`${path} is a ${kind}, which has no info (containers below groups and files do)`);
  if (found instanceof FileEntry && !found.info) await found.reload();
  return found as unknown as InfoHolder;
}

/** `value` as JSON when it parses (numbers, true, {"a":1}, "quoted"), else as the string itself. */
function parseValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/**
 * `a.b.c=v` as the top-level `set` the API takes: the server replaces whole top-level keys, so a
 * dotted key is merged into a copy of what is stored under its first part.
 */
export function infoSet(current: Json, assignments: string[]): Json {
  const set: Json = {};
  for (const a of assignments) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new CliError(`not key=value: '${a}' (e.g. quality=good, qa.snr=31.5, flags='["a","b"]')`);
    const keys = a.slice(0, eq).split('.');
    if (keys.some((k) => k === '')) throw new CliError(`empty key segment in '${a.slice(0, eq)}'`);
    const value = parseValue(a.slice(eq + 1));
    const top = keys[0]!;
    if (keys.length === 1) {
      set[top] = value;
      continue;
    }
    const base = set[top] ?? current[top];
    let root: Json = base && typeof base === 'object' && !Array.isArray(base) ? structuredClone(base as Json) : {};
    set[top] = root;
    for (const k of keys.slice(1, -1)) {
      const next = root[k];
      root = root[k] = next && typeof next === 'object' && !Array.isArray(next) ? { ...(next as Json) } : {};
    }
    root[keys[keys.length - 1]!] = value;
  }
  return set;
}

export function register(info: Command): void {
  info
    .command('set')
    .description('set info fields on a container or file (values are JSON when they parse, else strings)')
    .argument('<path>', 'container or …/files/<name>')
    .argument('<key=value...>', 'fields to set; dotted keys reach into objects')
    .addHelpText(
      'after',
      `
Examples:
  $ sprocket info set lab/study1/sub-01 cohort=pilot
  $ sprocket info set lab/study1/sub-01/ses-01/T1w/files/t1.nii.gz qa.snr=31.5 qa.passed=true`,
    )
    .action(async (path: string, assignments: string[]) => {
      const holder = await holderAt(path);
      const set = infoSet(holder.info ?? {}, assignments);
      await holder.updateInfo(set);
      process.stdout.write(`Set ${assignments.map((a) => a.slice(0, a.indexOf('='))).join(', ')} on ${path}\n`);
    });

  info
    .command('rm')
    .description('remove info fields from a container or file')
    .argument('<path>', 'container or …/files/<name>')
    .argument('<key...>', 'fields to remove; dotted keys reach into objects')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket info rm lab/study1/sub-01 cohort\n  $ sprocket info rm lab/study1/sub-01/ses-01/T1w/files/t1.nii.gz qa.snr',
    )
    .action(async (path: string, keys: string[]) => {
      const holder = await holderAt(path);
      await holder.deleteInfo(...keys);
      process.stdout.write(`Removed ${keys.join(', ')} from ${path}\n`);
    });
}
