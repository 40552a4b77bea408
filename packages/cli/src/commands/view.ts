import fs from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { DataViewSpec, ViewColumn, ViewColumnType, ViewFileSpec, ViewFormat } from '@sprocket/sdk';
import { type Command, Option } from 'commander';
import { CliError } from '../errors.js';
import { lookupContainer } from '../paths.js';
import { openSession } from '../session.js';

const FORMATS: ViewFormat[] = ['csv', 'tsv', 'json', 'json-flat', 'json-row-column'];
const LEVELS = ['project', 'subject', 'session', 'acquisition', 'analysis'];
const MATCHES = ['first', 'last', 'newest', 'oldest', 'all'];
const TYPES: ViewColumnType[] = ['string', 'int', 'float', 'bool'];
const FILE_FORMATS = ['csv', 'tsv', 'json'];

interface Options {
  column: string[];
  fileColumn: string[];
  fileFilter?: string;
  regex?: boolean;
  fileContainer: string;
  match?: string;
  processFiles?: boolean;
  fileFormat?: string;
  analysisLabel?: string;
  analysisGear?: string;
  analysisGearVersion?: string;
  format: string;
  output?: string;
  dropMissing?: boolean;
  ids?: boolean;
  labels?: boolean;
  filter?: string;
}

/** `src`, `src:type`, `src=name` or `src:type=name`: a column, optionally typed and renamed. */
function parseColumn(text: string, flag: string, checkSrc: boolean): ViewColumn {
  const eq = text.indexOf('=');
  let src = eq > 0 ? text.slice(0, eq) : text;
  const dst = eq > 0 ? text.slice(eq + 1) : undefined;
  let type: ViewColumnType | undefined;
  const colon = src.lastIndexOf(':');
  if (colon > 0) {
    const t = src.slice(colon + 1);
    if (!TYPES.includes(t as ViewColumnType)) throw new CliError(`${flag} ${text}: the type after ':' is one of ${TYPES.join(', ')}`);
    type = t as ViewColumnType;
    src = src.slice(0, colon);
  }
  if (checkSrc && !/^(project|subject|session|acquisition|analysis|file)\.[A-Za-z0-9_.-]+$/.test(src)) {
    throw new CliError(
      `${flag} ${text}: a column source is <level>.<field>, level one of project, subject, session, acquisition, analysis, file (e.g. session.label, file.info.snr)`,
    );
  }
  if (!src) throw new CliError(`${flag} ${text}: no field name before ':' or '='`);
  if (dst === '') throw new CliError(`${flag} ${text}: no column name after '='`);
  return { src, ...(dst ? { dst } : {}), ...(type ? { type } : {}) };
}

const repeat = (v: string, p: string[]) => [...p, v];

/** The DataView body the options describe, as Flywheel's ViewBuilder writes it. */
export function viewSpec(opts: Options): DataViewSpec {
  if (!FORMATS.includes(opts.format as ViewFormat)) throw new CliError(`--format must be one of ${FORMATS.join(', ')}`);
  if (!LEVELS.includes(opts.fileContainer)) throw new CliError(`--file-container must be one of ${LEVELS.join(', ')}`);
  if (opts.match && !MATCHES.includes(opts.match)) throw new CliError(`--match must be one of ${MATCHES.join(', ')}`);
  if (opts.fileFormat && !FILE_FORMATS.includes(opts.fileFormat))
    throw new CliError(`--file-format must be one of ${FILE_FORMATS.join(', ')}`);
  const columns = opts.column.map((c) => parseColumn(c, '--column', true));
  const fileColumns = opts.fileColumn.map((c) => parseColumn(c, '--file-column', false));
  const analysis = opts.analysisLabel || opts.analysisGear || opts.analysisGearVersion;
  const needsFiles = opts.processFiles
    ? '--process-files'
    : fileColumns.length
      ? '--file-column'
      : analysis
        ? '--analysis-label/--analysis-gear'
        : opts.match
          ? '--match'
          : undefined;
  if (needsFiles && !opts.fileFilter) throw new CliError(`${needsFiles} needs --file-filter (which files to read, e.g. '*_qa.csv')`);
  if (fileColumns.length && !opts.processFiles) throw new CliError('--file-column reads fields inside files: add --process-files');
  if (!columns.length && !opts.processFiles && !opts.ids && !opts.labels)
    throw new CliError('give at least one --column (or --process-files, --ids, --labels)');
  const regex = opts.regex ? { regex: true } : {};
  let fileSpec: ViewFileSpec | undefined;
  if (opts.fileFilter) {
    fileSpec = {
      container: opts.fileContainer as ViewFileSpec['container'],
      filter: { value: opts.fileFilter, ...regex },
      processFiles: opts.processFiles === true,
      ...(opts.match ? { match: opts.match as ViewFileSpec['match'] } : {}),
      ...(opts.fileFormat ? { format: opts.fileFormat as ViewFileSpec['format'] } : {}),
      ...(fileColumns.length ? { columns: fileColumns } : {}),
      ...(analysis
        ? {
            analysisFilter: {
              ...(opts.analysisLabel ? { label: { value: opts.analysisLabel, ...regex } } : {}),
              ...(opts.analysisGear ? { 'gear.name': { value: opts.analysisGear, ...regex } } : {}),
              ...(opts.analysisGearVersion ? { 'gear.version': { value: opts.analysisGearVersion, ...regex } } : {}),
            },
          }
        : {}),
    };
  }
  return {
    columns,
    ...(fileSpec ? { fileSpec } : {}),
    // Sent explicitly, as ViewBuilder does: the columns asked for, and ids or labels only when asked.
    includeIds: opts.ids === true,
    includeLabels: opts.labels === true,
    ...(opts.dropMissing ? { missingDataStrategy: 'drop-row' as const } : {}),
  };
}

export function register(program: Command): void {
  program
    .command('view')
    .description('a table across a project: columns from container and file fields and info, or the rows inside CSV/TSV/JSON files')
    .argument('<path>', 'project (or a container below it)')
    .option(
      '-c, --column <src>',
      'column, in order: subject.label, file.info.snr, … (:type to convert, =name to rename; repeatable)',
      repeat,
      [],
    )
    .option('--ids', 'add the id column of each level')
    .option('--labels', 'add the label column of each level (and the file name)')
    // Before --ids, ids came by default and --no-ids left them out; that spelling still works.
    .addOption(new Option('--no-ids', 'leave out the id columns (the default)').hideHelp())
    .option('--file-filter <glob>', 'one row per file whose name matches (e.g. "*_qa.json")')
    .option('--regex', 'the file and analysis filters are regular expressions')
    .option('--file-container <level>', `level whose files make the rows (${LEVELS.join(', ')})`, 'acquisition')
    .option('--match <which>', `with several matching files per container: ${MATCHES.join(', ')} (default all)`)
    .option('--process-files', 'read the matching files: one row per CSV/TSV row or JSON record')
    .option(
      '--file-column <field>',
      'with --process-files: a field to take from each record (:type, =name; repeatable; default all)',
      repeat,
      [],
    )
    .option('--file-format <format>', `with --process-files, when file names do not tell: ${FILE_FORMATS.join(', ')}`)
    .option(
      '--analysis-label <glob>',
      "files of the analyses with this label under each --file-container level instead of the container's own",
    )
    .option('--analysis-gear <name>', 'files of the analyses run by this gear')
    .option('--analysis-gear-version <version>', 'files of the analyses run by this gear version')
    .option('--filter <filter>', 'only rows matching this filter (e.g. subject.label=sub-01)')
    .option('--drop-missing', 'leave out rows with any empty column')
    .option('-f, --format <format>', FORMATS.join(', '), 'csv')
    .option('-o, --output <file>', 'write here instead of stdout')
    .addHelpText(
      'after',
      `
Columns come in the order given; id and label columns only with --ids and --labels.
Nested info objects are flattened into dotted columns (file.info.bids_meta → bids_meta.EchoTime …).
Types: ${TYPES.join(', ')}; a value that does not convert is left empty.

Examples:
  $ sprocket view lab/study1 -c subject.label -c session.label -c acquisition.label --ids
  $ sprocket view lab/study1 -c subject.label -c file.name -c file.info.snr:float=snr --file-filter '*_qa.json' -o qa.csv
  $ sprocket view lab/study1 -c subject.label --file-filter '*_qa.json' --process-files --file-column snr:float --format json
  $ sprocket view lab/study1 -c subject.label -c analysis.label --file-filter 'metrics.csv' --process-files \\
      --analysis-gear nifti-qa --file-column region --file-column volume:float`,
    )
    .action(async (path: string, opts: Options) => {
      const spec = viewSpec(opts);
      const session = openSession();
      const target = await lookupContainer(session.client, path, 'a project or container below it');
      if (target.containerType === 'group') throw new CliError('a view runs over a project or a container below it, not a group');
      // The answer streams straight to its destination.
      const res = await session.client.readViewData(spec, target.id, opts.format as ViewFormat, { filter: opts.filter });
      const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
      if (opts.output) {
        const tmp = `${opts.output}.part`;
        await pipeline(body, fs.createWriteStream(tmp));
        await fs.promises.rename(tmp, opts.output);
        process.stderr.write(`Wrote ${opts.output}\n`);
      } else {
        await pipeline(body, process.stdout, { end: false });
        if (!opts.format.startsWith('csv') && opts.format !== 'tsv') process.stdout.write('\n');
      }
    });
}
