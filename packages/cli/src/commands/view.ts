import fs from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { lookupContainer } from '../paths.js';
import { openSession } from '../session.js';

const FORMATS = ['csv', 'tsv', 'json'];
const LEVELS = ['project', 'subject', 'session', 'acquisition', 'analysis'];
const MATCHES = ['first', 'last', 'newest', 'oldest', 'all'];

interface Options {
  column: string[];
  fileFilter?: string;
  regex?: boolean;
  fileContainer: string;
  match?: string;
  format: string;
  output?: string;
  dropMissing?: boolean;
  ids: boolean;
  filter?: string;
}

/** `src`, or `src=name` to name the column. */
function column(text: string): { src: string; dst?: string } {
  const eq = text.indexOf('=');
  const src = eq > 0 ? text.slice(0, eq) : text;
  if (!/^(project|subject|session|acquisition|analysis|file)\.[A-Za-z0-9_.-]+$/.test(src)) {
    throw new CliError(`--column ${text}: a column source is <level>.<field>, level one of project, subject, session, acquisition, analysis, file (e.g. session.label, file.info.snr)`);
  }
  return eq > 0 ? { src, dst: text.slice(eq + 1) } : { src };
}

export function register(program: Command): void {
  program
    .command('view')
    .description('a table across a project: columns from container and file fields and info')
    .argument('<path>', 'project (or a container below it)')
    .requiredOption('-c, --column <src>', 'column source, e.g. subject.label or file.info.snr (=name to rename; repeatable)', (v: string, p: string[]) => [...p, v], [])
    .option('--file-filter <glob>', 'one row per file whose name matches (e.g. "*_qa.json")')
    .option('--regex', 'the file filter is a regular expression')
    .option('--file-container <level>', `level whose files make the rows (${LEVELS.join(', ')})`, 'acquisition')
    .option('--match <which>', `with several matching files per container: ${MATCHES.join(', ')} (default all)`)
    .option('--filter <filter>', 'only rows matching this filter (e.g. subject.label=sub-01)')
    .option('--drop-missing', 'leave out rows with any empty column')
    .option('--no-ids', 'leave out the container id columns')
    .option('-f, --format <format>', FORMATS.join(', '), 'csv')
    .option('-o, --output <file>', 'write here instead of stdout')
    .addHelpText(
      'after',
      `
Nested info objects are flattened into dotted columns (file.info.bids_meta → bids_meta.EchoTime …).

Examples:
  $ sprocket view lab/study1 -c subject.label -c session.label -c acquisition.label
  $ sprocket view lab/study1 -c subject.label -c file.name -c file.info.snr=snr --file-filter '*_qa.json' -o qa.csv
  $ sprocket view lab/study1 -c subject.label -c file.info --file-filter '*_qa.json' --format json`,
    )
    .action(async (path: string, opts: Options) => {
      if (!FORMATS.includes(opts.format)) throw new CliError(`--format must be one of ${FORMATS.join(', ')}`);
      if (!LEVELS.includes(opts.fileContainer)) throw new CliError(`--file-container must be one of ${LEVELS.join(', ')}`);
      if (opts.match && !MATCHES.includes(opts.match)) throw new CliError(`--match must be one of ${MATCHES.join(', ')}`);
      const columns = opts.column.map(column);
      const session = openSession();
      const target = await lookupContainer(session.client, path, 'a project or container below it');
      if (target.containerType === 'group') throw new CliError('a view runs over a project or a container below it, not a group');
      const spec = {
        columns,
        ...(opts.fileFilter
          ? { fileSpec: { container: opts.fileContainer, filter: { value: opts.fileFilter, ...(opts.regex ? { regex: true } : {}) }, ...(opts.match ? { match: opts.match } : {}) } }
          : {}),
        ...(opts.dropMissing ? { missingDataStrategy: 'drop-row' } : {}),
        ...(opts.ids ? {} : { includeIds: false }),
      };
      // Sent directly: the SDK has no data-view call yet. The answer streams straight to its destination.
      const res = await session.raw.send('POST', '/views/data', { query: { containerId: target.id, format: opts.format, filter: opts.filter }, body: spec });
      const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
      if (opts.output) {
        const tmp = `${opts.output}.part`;
        await pipeline(body, fs.createWriteStream(tmp));
        await fs.promises.rename(tmp, opts.output);
        process.stderr.write(`Wrote ${opts.output}\n`);
      } else {
        await pipeline(body, process.stdout, { end: false });
        if (opts.format === 'json') process.stdout.write('\n');
      }
    });
}
