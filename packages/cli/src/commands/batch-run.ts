import { createInterface } from 'node:readline/promises';
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
  yes?: boolean;
  tag: string[];
  wait?: boolean;
  interval?: string;
  timeout?: string;
  json?: boolean;
}

type Ref = { type?: string; id?: string; name?: string };
type Labels = NonNullable<BatchProposal['containers']>;

/** The input files the proposal picked for one matched container, as `input: file` text. */
function inputsFor(proposal: BatchProposal, c: { id: string }): string {
  const p = proposal.proposal as { inputs?: Record<string, Ref>[] } | undefined;
  const entry = p?.inputs?.find((m) => Object.values(m).some((r) => r?.id === c.id));
  if (entry)
    return Object.entries(entry)
      .map(([k, r]) => `${k}: ${r.name ?? r.id}`)
      .join(', ');
  const files = (c as { files?: { name: string }[] }).files;
  return files?.length === 1 ? files[0]!.name : '';
}

const idOf = (c: unknown) => (c as { id?: string }).id ?? (c as { _id?: string })._id ?? '';
const labelOf = (c: unknown) => (c as { label?: string }).label ?? idOf(c);
const typeOf = (c: unknown) =>
  (c as { containerType?: string }).containerType ??
  (c as { container_type?: string }).container_type ??
  (c as { type?: string }).type ??
  '';
const parentsOf = (c: unknown) => ((c as { parents?: Record<string, string> }).parents ?? {}) as Record<string, string>;

/** Subject, session and acquisition labels of a listed container, from the proposal's labels map. */
function levels(c: unknown, labels: Labels): { subject: string; session: string; acquisition: string } {
  const p = parentsOf(c);
  const name = (id: string | undefined) => (id ? (labels[id]?.label ?? id) : '');
  const type = typeOf(c);
  return {
    subject: type === 'subject' ? labelOf(c) : name(p.subject),
    session: type === 'session' ? labelOf(c) : name(p.session),
    acquisition: type === 'acquisition' ? labelOf(c) : '',
  };
}

const byLevels = (labels: Labels) => (a: unknown, b: unknown) => {
  const x = levels(a, labels);
  const y = levels(b, labels);
  const cmp = (u: string, v: string) => u.localeCompare(v, undefined, { numeric: true });
  return cmp(x.subject, y.subject) || cmp(x.session, y.session) || cmp(x.acquisition, y.acquisition);
};

/** `  <path>: <reason>` lines for the containers a batch leaves out. */
function leftOut(title: string, list: unknown[], labels: Labels, reason: (c: unknown) => string): string {
  if (!list.length) return '';
  const lines = list.map((c) => `  ${labels[idOf(c)]?.path ?? `${typeOf(c)} ${labelOf(c)}`}: ${reason(c)}`);
  return `${title} (${list.length}, not run):\n${lines.join('\n')}\n`;
}

/** Asks on the terminal (on stderr, so stdout stays the table or JSON); only `y`/`yes` says yes. */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export function register(parent: Command): void {
  parent
    .command('run')
    .description('run a gear on every matching file under a container, after showing the proposal')
    .argument('<gear>', 'gear name, or name/version')
    .argument('<path>', 'container to search: group/project[/subject/session]')
    .option('--dry-run', 'only show the proposal; queue nothing and keep no batch')
    .option('-y, --yes', 'launch without asking (needed where there is no terminal to ask on)')
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
The server proposes one job per acquisition whose files match the gear's inputs; the table shows
them by subject and session, then the ambiguous and unmatched containers with the reason for
each (they are not run). On a terminal it asks 'Launch N jobs? [y/N]' (--yes skips the question;
without a terminal --yes is required). Config options are --<config>=<value>, as for 'job run'.

Examples:
  $ sprocket batch run dcm2niix lab/study1 --dry-run
  $ sprocket batch run dcm2niix lab/study1 --yes --wait
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
      const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY);
      // Refused before anything is proposed: no pending batch is left behind.
      if (!opts.dryRun && !opts.yes && !interactive)
        throw new CliError('batch run asks before launching and there is no terminal here: add --yes to launch, or --dry-run to only look');
      const proposal = await gear.proposeBatch([target as Container], {
        config: { ...gear.configDefaults(), ...args.config },
        tags: ['cli', ...opts.tag],
        dryRun: opts.dryRun,
      });
      const labels: Labels = proposal.containers ?? {};
      const matched = [...((proposal.matched ?? []) as unknown[])].sort(byLevels(labels));
      const ambiguous = [...((proposal.ambiguous ?? []) as unknown[])].sort(byLevels(labels));
      const notMatched = [...((proposal.not_matched ?? []) as unknown[])].sort(byLevels(labels));
      const improper = (proposal.improper_permissions ?? []).map((id) => ({ _id: id, ...(labels[id] ?? {}) }));
      const counts = `${matched.length} matched, ${ambiguous.length} ambiguous, ${notMatched.length} not matched, ${improper.length} without permission`;
      if (opts.json) {
        if (opts.dryRun || !matched.length) {
          printJson(plain(proposal));
          if (!matched.length && !opts.dryRun) await proposal.cancel();
          return;
        }
      } else {
        process.stdout.write(
          `Proposal ${opts.dryRun ? '(dry run)' : proposal.id} for ${gear.name} ${gear.version} over ${positionals[1]}:\n`,
        );
        printTable(
          matched,
          [
            { header: 'SUBJECT', value: (c) => levels(c, labels).subject },
            { header: 'SESSION', value: (c) => levels(c, labels).session },
            { header: 'ACQUISITION', value: (c) => levels(c, labels).acquisition },
            { header: 'INPUTS', value: (c) => inputsFor(proposal, { id: idOf(c) }) },
          ],
          '(no container matches the gear inputs)',
        );
        const reason = (c: unknown) => (c as { reason?: string }).reason ?? '';
        process.stdout.write(
          leftOut('Ambiguous', ambiguous, labels, reason) +
            leftOut('Not matched', notMatched, labels, reason) +
            leftOut('Without permission', improper, labels, () => 'you may not launch jobs here (at this priority)'),
        );
        process.stdout.write(`${counts}\n`);
      }
      if (opts.dryRun) {
        if (!opts.json) process.stdout.write('Dry run: nothing was queued and no batch was kept.\n');
        return;
      }
      if (!matched.length) {
        // The proposal is pending on the server; with nothing to run it should not linger.
        await proposal.cancel();
        throw new CliError(`nothing to run: no container under ${positionals[1]} has files matching the inputs of ${gear.name}`);
      }
      if (!opts.yes && !(await confirm(`Launch ${matched.length} job${matched.length === 1 ? '' : 's'}? [y/N] `))) {
        await proposal.cancel();
        process.stderr.write(`Nothing was queued (proposal ${proposal.id} cancelled).\n`);
        return;
      }
      const jobs = await proposal.run();
      if (opts.json && !opts.wait) printJson({ batch: proposal.id, jobs: jobs.map((j) => j.id), proposal: plain(proposal) });
      else if (!opts.json) process.stdout.write(`Started batch ${proposal.id}: ${jobs.length} jobs queued\n`);
      if (opts.wait) {
        const done = await waitWithProgress(
          client,
          jobs.map((j) => j.id),
          { intervalMs: intervalMs(opts.interval), timeoutMs: timeoutMs(opts.timeout) },
        );
        if (opts.json) printJson({ batch: proposal.id, jobs: done.map((j) => ({ id: j.id, state: j.state })) });
        reportFinished(done);
      }
    });
}
