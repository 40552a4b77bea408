import type { BatchProposal, Container } from '@sprocket/sdk';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { gearArgs, splitFlags } from '../gears/flags.js';
import { intervalMs, reportFinished, timeoutMs, waitWithProgress } from '../jobs/wait.js';
import { plain, printJson, printTable } from '../output.js';
import { lookupContainer, lookupGear } from '../paths.js';
import { openSession } from '../session.js';

interface Options {
  dryRun?: boolean;
  tag: string[];
  wait?: boolean;
  interval?: string;
  timeout?: string;
  json?: boolean;
}

type Ref = { type?: string; id?: string; name?: string };

/** The input files the proposal picked for one matched container, as `input: file` text. */
function inputsFor(proposal: BatchProposal, c: { id: string }): string {
  const p = proposal.proposal as { inputs?: Record<string, Ref>[] } | undefined;
  const entry = p?.inputs?.find((m) => Object.values(m).some((r) => r?.id === c.id));
  if (entry) return Object.entries(entry).map(([k, r]) => `${k}: ${r.name ?? r.id}`).join(', ');
  const files = (c as { files?: { name: string }[] }).files;
  return files?.length === 1 ? files[0]!.name : '';
}

const labelOf = (c: unknown) => (c as { label?: string }).label ?? (c as { id?: string; _id?: string }).id ?? (c as { _id?: string })._id ?? '';
const typeOf = (c: unknown) => (c as { containerType?: string }).containerType ?? (c as { container_type?: string }).container_type ?? (c as { type?: string }).type ?? '';

export function register(parent: Command): void {
  parent
    .command('run')
    .description('run a gear on every matching file under a container, after showing the proposal')
    .argument('<gear>', 'gear name, or name/version')
    .argument('<path>', 'container to search: group/project[/subject/session]')
    .option('--dry-run', 'only show the proposal; queue nothing')
    .option('--tag <tag>', 'tag the jobs (repeatable)', (v: string, prev: string[]) => [...prev, v], [])
    .option('-w, --wait', 'wait for the jobs to finish (exit code 1 unless all complete)')
    .option('--interval <seconds>', 'with --wait: seconds between polls (default 2)')
    .option('--timeout <seconds>', 'with --wait: give up after this long')
    .option('--json', 'print the proposal (and the batch) as JSON')
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText(
      'after',
      `
The server proposes one job per acquisition whose files match the gear's inputs (ambiguous and
unmatched ones are listed, not run). Config options are --<config>=<value>, as for 'job run'.

Examples:
  $ sprocket batch run dcm2niix lab/study1 --dry-run
  $ sprocket batch run dcm2niix lab/study1 --wait
  $ sprocket batch run nifti-qa lab/study1/sub-01 --tag pilot`,
    )
    .action(async (_g: string, _p: string, opts: Options, cmd: Command) => {
      const { flags, positionals } = splitFlags(cmd.args);
      if (positionals.length !== 2) throw new CliError('usage: sprocket batch run <gear> <container path> [--<config>=<value> …]');
      const { client } = openSession();
      const gear = await lookupGear(client, positionals[0]!);
      const args = gearArgs(gear.gear, flags);
      if (Object.keys(args.inputs).length) throw new CliError('a batch picks the input files itself: give only config options');
      const target = await lookupContainer(client, positionals[1]!, 'a container to run a batch over');
      if (target.containerType === 'group') throw new CliError('run a batch over a project or something below it');
      const proposal = await gear.proposeBatch([target as Container], { config: { ...gear.configDefaults(), ...args.config }, tags: ['cli', ...opts.tag] });
      const matched = (proposal.matched ?? []) as unknown[];
      const counts = `${matched.length} matched, ${(proposal.ambiguous ?? []).length} ambiguous, ${(proposal.not_matched ?? []).length} not matched, ${(proposal.improper_permissions ?? []).length} without permission`;
      if (opts.json) {
        if (opts.dryRun || !matched.length) return printJson(plain(proposal));
      } else {
        process.stdout.write(`Proposal ${proposal.id} for ${gear.name} ${gear.version} over ${positionals[1]}:\n`);
        printTable(
          matched,
          [
            { header: 'TYPE', value: typeOf },
            { header: 'CONTAINER', value: labelOf },
            { header: 'INPUTS', value: (c) => inputsFor(proposal, c as { id: string }) },
          ],
          '(no container matches the gear inputs)',
        );
        process.stdout.write(`${counts}\n`);
      }
      if (opts.dryRun) {
        if (!opts.json) process.stdout.write('Dry run: nothing was queued.\n');
        return;
      }
      if (!matched.length) throw new CliError(`nothing to run: no container under ${positionals[1]} has files matching the inputs of ${gear.name}`);
      const jobs = await proposal.run();
      if (opts.json && !opts.wait) printJson({ batch: proposal.id, jobs: jobs.map((j) => j.id), proposal: plain(proposal) });
      else if (!opts.json) process.stdout.write(`Started batch ${proposal.id}: ${jobs.length} jobs queued\n`);
      if (opts.wait) {
        const done = await waitWithProgress(client, jobs.map((j) => j.id), { intervalMs: intervalMs(opts.interval), timeoutMs: timeoutMs(opts.timeout) });
        if (opts.json) printJson({ batch: proposal.id, jobs: done.map((j) => ({ id: j.id, state: j.state })) });
        reportFinished(done);
      }
    });
}
