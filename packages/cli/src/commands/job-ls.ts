import type { ContainerLabel, Job } from '@sprocket/sdk';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { listingColumns } from '../jobs/format.js';
import { plain, printJson, printTable } from '../output.js';
import { lookupContainer } from '../paths.js';
import { positiveInt } from '../pool.js';
import { openSession } from '../session.js';

/** Gear names are `[a-z0-9-]`; checking keeps a name from smuggling more clauses into the filter. */
const GEAR_NAME = /^[a-z0-9-]{1,100}$/;

export function register(parent: Command): void {
  parent
    .command('ls')
    .description(
      'list jobs: with a path, every job on that container and below (rule and batch jobs included); without, the jobs you launched',
    )
    .argument('[path]', 'container: group/project[/subject/session/acquisition]')
    .option('--state <states>', 'only these states (comma-separated): pending, running, complete, failed, cancelled')
    .option('--gear <name>', 'only jobs of this gear')
    .option('--all', 'every job you may see: all of them for site admins, else yours and those on data where you may view jobs')
    .option('-n, --limit <n>', 'at most this many (default 50)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `
Without a path only jobs you launched are listed; jobs that gear rules or other people started
on your data appear under the project's (or session's …) path. Newest first.

Examples:
  $ sprocket job ls
  $ sprocket job ls lab/study1
  $ sprocket job ls lab/study1/sub-01 --state failed --gear dcm2niix
  $ sprocket job ls --all --json`,
    )
    .action(async (path: string | undefined, opts: { state?: string; gear?: string; all?: boolean; limit?: string; json?: boolean }) => {
      const session = openSession();
      const { client } = session;
      const limit = positiveInt('--limit', opts.limit, 50);
      const states = opts.state
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (opts.gear !== undefined && !GEAR_NAME.test(opts.gear))
        throw new CliError(`--gear: '${opts.gear}' is not a gear name (lower-case letters, digits and hyphens)`);
      if (path && opts.all) throw new CliError('give a path or --all, not both');
      const filter = opts.gear ? `gear_info.name=${opts.gear}` : undefined;
      let jobs: Job[];
      let containers: Record<string, ContainerLabel>;
      if (path) {
        const target = await lookupContainer(client, path, 'a container to list the jobs of');
        if (target.containerType === 'group')
          throw new CliError(`${path} is a group: list the jobs of one of its projects (sprocket job ls ${path}/<project>)`);
        ({ jobs, containers } = await client.getContainerJobs(
          { type: target.containerType, id: target.id },
          { states, filter, sort: 'created:desc', limit },
        ));
      } else if (opts.all) {
        ({ jobs, containers } = await client.getJobListing({ states, filter, sort: 'created:desc', limit }));
      } else {
        ({ jobs, containers } = await client.getCurrentUserJobs({ states, gear: opts.gear, limit }));
      }
      if (opts.json) printJson(plain(jobs));
      else printTable(jobs, listingColumns(containers), path ? `(no jobs on ${path})` : '(no jobs)');
    });
}
