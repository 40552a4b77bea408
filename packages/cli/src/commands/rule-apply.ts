import type { Command } from 'commander';
import { printJson } from '../output.js';
import { findRule, projectAt } from '../rules/rules.js';
import { openSession } from '../session.js';

/** What the apply route answers (also in a dry run). */
interface ApplyResult {
  dry_run?: boolean;
  launched?: number;
  would_launch?: number;
  already_launched?: number;
  jobs?: unknown[];
  refused?: unknown[];
}

export function register(parent: Command): void {
  parent
    .command('apply')
    .description('run a gear rule over the files already in the project')
    .argument('<project>', 'group/project')
    .argument('<rule>', 'rule id or name')
    .option('--dry-run', 'only count the jobs it would queue')
    .option('--json', 'print the answer as JSON')
    .addHelpText(
      'after',
      '\nRules fire on new files; apply runs one over what is already there (files it already ran on are skipped).\n\nExamples:\n  $ sprocket rule apply lab/study1 dcm2niix --dry-run\n  $ sprocket rule apply lab/study1 dcm2niix',
    )
    .action(async (path: string, ref: string, opts: { dryRun?: boolean; json?: boolean }) => {
      const session = openSession();
      const project = await projectAt(session.client, path);
      const rule = await findRule(session.client, project, ref);
      const res: ApplyResult = await session.client.applyProjectRule(project.id, rule.id, { dryRun: opts.dryRun === true });
      if (opts.json) return printJson(res);
      const n = opts.dryRun ? (res.would_launch ?? res.jobs?.length ?? 0) : (res.launched ?? res.jobs?.length ?? 0);
      const extra = [
        ...(res.already_launched ? [`${res.already_launched} already run`] : []),
        ...(res.refused?.length ? [`${res.refused.length} refused`] : []),
      ];
      process.stdout.write(
        `Rule ${rule.name}: ${opts.dryRun ? `would queue ${n} jobs` : `queued ${n} jobs`}${extra.length ? ` (${extra.join(', ')})` : ''}\n`,
      );
    });
}
