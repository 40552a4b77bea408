import type { RuleInput } from '@sprocket/sdk';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { configValue } from '../gears/flags.js';
import { printJson } from '../output.js';
import { lookupGear } from '../paths.js';
import { parseCondition, projectAt } from '../rules/rules.js';
import { openSession } from '../session.js';

const many = (v: string, prev: string[]) => [...prev, v];

interface Options {
  gear: string;
  name?: string;
  any: string[];
  all: string[];
  not: string[];
  config: string[];
  autoUpdate?: boolean;
  disabled?: boolean;
  json?: boolean;
}

export function register(parent: Command): void {
  parent
    .command('add')
    .description('add a gear rule: run a gear on every new file that matches')
    .argument('<project>', 'group/project')
    .requiredOption('--gear <gear>', 'gear name, or name/version')
    .option('--name <name>', 'rule name (default: the gear name)')
    .option('--any <condition>', 'fire when any of these holds (repeatable)', many, [])
    .option('--all <condition>', 'and only when all of these hold (repeatable)', many, [])
    .option('--not <condition>', 'and never when one of these holds (repeatable)', many, [])
    .option('--config <key=value>', 'config value for the jobs (repeatable)', many, [])
    .option('--auto-update', 'follow new versions of the gear')
    .option('--disabled', 'add it disabled')
    .option('--json', 'print {id} as JSON')
    .addHelpText(
      'after',
      `
Conditions are <type>=<value> (case-insensitive; file.name takes shell globs) or <type>~=<regex>,
with type one of file.type, file.name, file.modality, file.classification, container.has-type,
container.has-classification.

Examples:
  $ sprocket rule add lab/study1 --gear dcm2niix --any file.type=dicom
  $ sprocket rule add lab/study1 --gear nifti-qa --name "QA on NIfTI" --any file.type=nifti --not 'file.name=*_ph.nii.gz'
  $ sprocket rule add lab/study1 --gear my-gear --any 'file.name~=^sub-.*\\.txt$' --config prefix=auto`,
    )
    .action(async (path: string, opts: Options) => {
      const { client } = openSession();
      const project = await projectAt(client, path);
      const gear = await lookupGear(client, opts.gear);
      const config: Record<string, unknown> = {};
      for (const kv of opts.config) {
        const eq = kv.indexOf('=');
        if (eq < 1) throw new CliError(`--config takes key=value, got '${kv}'`);
        const key = kv.slice(0, eq);
        const spec = gear.gear.config?.[key];
        if (!spec) throw new CliError(`--config ${key}: gear ${gear.name} has no config option '${key}'`);
        config[key] = configValue(key, spec, kv.slice(eq + 1));
      }
      const any = opts.any.map(parseCondition);
      const all = opts.all.map(parseCondition);
      if (!any.length && !all.length) throw new CliError('give at least one --any or --all condition');
      const rule: RuleInput = {
        gear_id: gear.id,
        name: opts.name ?? gear.name,
        any,
        all,
        not: opts.not.map(parseCondition),
        ...(Object.keys(config).length ? { config } : {}),
        ...(opts.autoUpdate ? { auto_update: true } : {}),
        ...(opts.disabled ? { disabled: true } : {}),
      };
      const id = await client.addProjectRule(project.id, rule);
      if (opts.json) printJson({ id });
      else
        process.stdout.write(
          `Added rule ${id} (${rule.name}) on ${path}: runs ${gear.name} ${opts.autoUpdate ? '(latest)' : gear.version}\n`,
        );
    });
}
