import { type Analysis, ApiError, type Container, type FileEntry } from '@sprocket/sdk';
import type { JobPriority } from '@sprocket/types';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { gearArgs, missingInputs, splitFlags } from '../gears/flags.js';
import { intervalMs, reportFinished, timeoutMs, waitWithProgress } from '../jobs/wait.js';
import { printJson } from '../output.js';
import { lookupContainer, lookupFile, lookupGear } from '../paths.js';
import { openSession } from '../session.js';

interface Options {
  destination?: string;
  tag: string[];
  priority?: string;
  analysisLabel?: string;
  wait?: boolean;
  interval?: string;
  timeout?: string;
  json?: boolean;
}

const PRIORITIES = ['low', 'medium', 'high', 'critical'];

export function register(parent: Command): void {
  parent
    .command('run')
    .description('queue a gear on files in Sprocket')
    .argument('<gear>', 'gear name, or name/version')
    .option('--destination <path>', "container the outputs go to (default: the first input file's container)")
    .option('--tag <tag>', 'tag the job (repeatable)', (v: string, prev: string[]) => [...prev, v], [])
    .option('--priority <level>', `one of ${PRIORITIES.join(', ')}`)
    .option('--analysis-label <label>', 'label of the analysis (analysis gears)')
    .option('-w, --wait', 'wait for the job to finish (exit code 1 unless it completes)')
    .option('--interval <seconds>', 'with --wait: seconds between polls (default 2)')
    .option('--timeout <seconds>', 'with --wait: give up after this long')
    .option('--json', 'print {job, analysis} ids as JSON')
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText(
      'after',
      `
Gear flags come from its manifest: --<input>=<path of a file in Sprocket> for each file input
(…/<acquisition>/files/<name>), --<config>=<value> for config options (defaults fill the rest).
The job is tagged 'cli'. Prints the job id (and the analysis id for analysis gears).

Examples:
  $ sprocket job run dcm2niix --dcm2niix_input=lab/study1/sub-01/ses-01/T1w/files/T1w.dicom.zip
  $ sprocket job run nifti-qa/1.0.0 --nifti=lab/study1/sub-01/ses-01/T1w/files/t1.nii.gz --wait
  $ sprocket job run my-gear --input_file=lab/p/s/ses/acq/files/x.txt --prefix=run2 --tag pilot`,
    )
    .action(async (_gear: string, opts: Options, cmd: Command) => {
      const { flags, positionals } = splitFlags(cmd.args);
      if (positionals.length !== 1)
        throw new CliError(
          positionals.length
            ? `unexpected arguments: ${positionals.slice(1).join(' ')} (gear options are --<name>=<value>)`
            : 'a gear name is required',
        );
      if (opts.priority && !PRIORITIES.includes(opts.priority)) throw new CliError(`--priority must be one of ${PRIORITIES.join(', ')}`);
      const { client } = openSession();
      const gear = await lookupGear(client, positionals[0]!);
      const args = gearArgs(gear.gear, flags);
      const inputs: Record<string, FileEntry> = {};
      for (const [name, value] of Object.entries(args.inputs)) {
        if (gear.gear.inputs[name]!.base === 'context')
          throw new CliError(`--${name} is a context input: its value comes from the container's info.context.${name}`);
        inputs[name] = await lookupFile(client, value);
      }
      const missing = missingInputs(gear.gear, args.inputs);
      if (missing.length) throw new CliError(`gear ${gear.name} needs ${missing.map((m) => `--${m}=<file path>`).join(', ')}`);
      const destination = opts.destination
        ? ((await lookupContainer(client, opts.destination, 'a job destination')) as Container)
        : undefined;
      if (!destination && !Object.keys(inputs).length)
        throw new CliError(`gear ${gear.name} takes no file inputs: give --destination <path>`);

      let jobId: string;
      let analysisId: string | undefined;
      try {
        const id = await gear.run({
          inputs,
          config: args.config,
          destination,
          tags: ['cli', ...opts.tag],
          priority: opts.priority as JobPriority | undefined,
          analysisLabel: opts.analysisLabel,
        });
        if (gear.isAnalysis) {
          analysisId = id;
          const analysis = await client.getAnalysis(id);
          const job = (analysis as Analysis).job;
          jobId =
            typeof job === 'string'
              ? job
              : String((job as { id?: string; _id?: string } | undefined)?.id ?? (job as { _id?: string } | undefined)?._id ?? '');
        } else jobId = id;
      } catch (e) {
        if (e instanceof ApiError && e.status === 400) throw new CliError(`the server refused the job: ${e.message}`);
        throw e;
      }
      if (opts.json && !opts.wait) printJson({ job: jobId, ...(analysisId ? { analysis: analysisId } : {}) });
      else if (!opts.json) process.stdout.write(analysisId ? `Queued analysis ${analysisId} (job ${jobId})\n` : `Queued job ${jobId}\n`);
      if (opts.wait) {
        const jobs = await waitWithProgress(client, [jobId], { intervalMs: intervalMs(opts.interval), timeoutMs: timeoutMs(opts.timeout) });
        if (opts.json) printJson({ job: jobId, ...(analysisId ? { analysis: analysisId } : {}), state: jobs[0]!.state });
        reportFinished(jobs);
      }
    });
}
