import fs from 'node:fs';
import path from 'node:path';
import type { Acquisition } from '@sprocket/sdk';
import type { Command } from 'commander';
import { type DicomInfo, readDicomInfo, walkFiles } from '../dicom/scan.js';
import { CliError, describeError } from '../errors.js';
import { planSeries, type SeriesPlan } from '../importing/dicom-plan.js';
import { ensureProject, ProjectTree } from '../importing/hierarchy.js';
import { humanSize, printJson, printTable } from '../output.js';
import { eachLimit, positiveInt } from '../pool.js';
import { progress } from '../progress.js';
import { openSession } from '../session.js';
import { rateLimit } from '../transfer/rate.js';
import { uniqueNames, zipStream } from '../transfer/zip-stream.js';

interface Options {
  subject?: string;
  session?: string;
  jobs?: string;
  dryRun?: boolean;
  json?: boolean;
  limitRate?: string;
}

/** Reads every file's header (16 at a time); files that are not DICOM series images are counted, not fatal. */
async function scan(dir: string): Promise<{ infos: DicomInfo[]; ignored: number }> {
  const files = await walkFiles(dir);
  const bar = progress('Reading headers', files.length, 'files');
  const infos: DicomInfo[] = [];
  let ignored = 0;
  try {
    await eachLimit(files, 16, async ({ file, size }) => {
      const info = await readDicomInfo(file, size);
      if (info) infos.push(info);
      else ignored++;
      bar.add(1);
    });
  } finally {
    bar.stop();
  }
  return { infos, ignored };
}

/** A series is already imported when its acquisition holds its zip with as many members as it has files. */
function alreadyThere(acq: Acquisition, plan: SeriesPlan): boolean {
  const f = acq.files?.find((x) => x.name === plan.zipName);
  if (!f) return false;
  return f.zip_member_count === null || f.zip_member_count === undefined || f.zip_member_count === plan.files.length;
}

/** The dry run's answer: how the files would be sorted, as a table or as JSON. */
function printPlan(plans: SeriesPlan[], found: string, json: boolean): void {
  if (json) {
    printJson(
      plans.map((p) => ({
        subject: p.subject,
        session: p.session,
        acquisition: p.acquisition,
        file: p.zipName,
        files: p.files.length,
        bytes: p.bytes,
      })),
    );
    return;
  }
  printTable(plans, [
    { header: 'SUBJECT', value: (p) => p.subject },
    { header: 'SESSION', value: (p) => p.session.label },
    { header: 'ACQUISITION', value: (p) => p.acquisition.label },
    { header: 'FILES', value: (p) => p.files.length, right: true },
    { header: 'SIZE', value: (p) => humanSize(p.bytes), right: true },
  ]);
  process.stdout.write(`${found}\n`);
}

/** Zips one series as it uploads it; a failed upload takes its bytes back off the bar. */
async function uploadSeries(
  acq: Acquisition,
  plan: SeriesPlan,
  bar: ReturnType<typeof progress>,
  limit: ReturnType<typeof rateLimit>,
): Promise<void> {
  const names = uniqueNames(
    plan.files.map((f) => f.file),
    (f) => path.basename(f),
  );
  let sent = 0;
  const zip = zipStream(
    plan.files.map((f, i) => ({ file: f.file, name: names[i]!, size: f.size })),
    (n) => {
      sent += n;
      bar.add(n);
    },
    limit,
  );
  try {
    await acq.uploadFile({ name: plan.zipName, data: zip }, { metadata: { type: 'dicom' } });
  } catch (e) {
    bar.add(-sent);
    throw e;
  }
}

export function register(parent: Command): void {
  parent
    .command('dicom')
    .description('import a folder of DICOM files, sorted into subjects, sessions and acquisitions by their headers')
    .argument('<dir>', 'folder to search (recursively) for DICOM files')
    .argument('<group>', 'group id')
    .argument('<project>', 'project label (created when missing)')
    .option('--subject <label>', 'put everything under this subject instead of each PatientID')
    .option('--session <label>', 'label sessions this instead of their StudyDescription')
    .option('-j, --jobs <n>', 'series uploaded at once (default 3)')
    .option('--limit-rate <rate>', 'at most this many bytes per second in all, e.g. 500k, 2M')
    .option('--dry-run', 'only show how the files would be sorted')
    .option('--json', 'with --dry-run: print the plan as JSON')
    .addHelpText(
      'after',
      `
Each file's header decides where it goes: subject = PatientID, session = StudyInstanceUID (labelled
with the StudyDescription, else the StudyDate), acquisition = SeriesInstanceUID (labelled
"<SeriesNumber> - <SeriesDescription>"; slashes in labels become '_'). Each series is uploaded as one <acquisition>.dicom.zip.
Series already imported (same acquisition UID and zip) are skipped, so rerunning an interrupted
import finishes it. Files that are not DICOM images (DICOMDIR, notes …) are ignored.

Examples:
  $ sprocket import dicom ./scans lab study1
  $ sprocket import dicom ./scans lab study1 --dry-run
  $ sprocket import dicom /mnt/export lab study1 --subject sub-07 --jobs 6`,
    )
    .action(async (dir: string, groupId: string, projectLabel: string, opts: Options) => {
      const jobs = positiveInt('--jobs', opts.jobs, 3);
      const limit = rateLimit(opts.limitRate);
      if (!(await fs.promises.stat(dir).catch(() => undefined))?.isDirectory()) throw new CliError(`not a folder: ${dir}`);
      const session = opts.dryRun ? undefined : openSession();
      const { infos, ignored } = await scan(dir);
      const plans = planSeries(infos, { subject: opts.subject, session: opts.session });
      const totalBytes = plans.reduce((n, p) => n + p.bytes, 0);
      const subjects = new Set(plans.map((p) => p.subject)).size;
      const sessions = new Set(plans.map((p) => `${p.subject}\u0000${p.session.uid}`)).size;
      const found = `Found ${infos.length} DICOM files (${humanSize(totalBytes)}) in ${plans.length} series, ${sessions} sessions, ${subjects} subjects${ignored ? `; ignored ${ignored} other files` : ''}`;

      if (opts.dryRun) return printPlan(plans, found, opts.json === true);
      if (!plans.length) throw new CliError(`no DICOM files found in ${dir}${ignored ? ` (${ignored} other files)` : ''}`);
      process.stdout.write(`${found}\n`);

      const { client } = session!;
      const { project, created } = await ensureProject(client, groupId, projectLabel);
      if (created) process.stdout.write(`Created project ${groupId}/${projectLabel}\n`);
      const tree = await new ProjectTree(project).load();

      const bar = progress('Importing', totalBytes, 'bytes');
      let uploaded = 0;
      let skipped = 0;
      let done = 0;
      const failures: string[] = [];
      try {
        await eachLimit(plans, jobs, async (plan) => {
          try {
            const subject = await tree.subject(plan.subject);
            const ses = await tree.session(subject, plan.session);
            const acq = await tree.acquisition(ses, plan.acquisition);
            if (alreadyThere(acq, plan)) {
              skipped++;
              bar.add(plan.bytes);
            } else {
              await uploadSeries(acq, plan, bar, limit);
              uploaded++;
            }
          } catch (e) {
            failures.push(`${plan.subject}/${plan.session.label}/${plan.acquisition.label}: ${describeError(e)}`);
            // The server being unreachable or refusing the key fails every series alike: stop.
            if ((e as { status?: number }).status === 0 || (e as { status?: number }).status === 401) throw e;
          } finally {
            bar.note(`${++done}/${plans.length} series`);
          }
        });
      } finally {
        bar.stop();
      }
      const c = tree.created;
      process.stdout.write(
        `Imported into ${groupId}/${projectLabel}: ${uploaded} series uploaded, ${skipped} already there` +
          `${failures.length ? `, ${failures.length} failed` : ''} (created ${c.subjects} subjects, ${c.sessions} sessions, ${c.acquisitions} acquisitions)\n`,
      );
      if (failures.length) {
        throw new CliError(
          `${failures.length} of ${plans.length} series failed to import (first: ${failures[0]}); run the same command again to retry them`,
        );
      }
    });
}
