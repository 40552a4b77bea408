import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Container } from '@sprocket/sdk';
import type { Command } from 'commander';
import { walkFiles } from '../dicom/scan.js';
import { CliError, describeError } from '../errors.js';
import { ensureProject, ProjectTree } from '../importing/hierarchy.js';
import { humanSize, printJson, printTable } from '../output.js';
import { eachLimit, positiveInt } from '../pool.js';
import { progress } from '../progress.js';
import { openSession } from '../session.js';
import { countedRead } from '../transfer/counted.js';
import { sha384Of } from '../transfer/fetch-file.js';
import { rateLimit } from '../transfer/rate.js';
import { zipStream } from '../transfer/zip-stream.js';

const LEVELS = ['project', 'subject', 'session', 'acquisition'] as const;

/** One upload: a file, or a folder below acquisition level packed as `<folder>.zip`. */
interface Item {
  /** subject, session, acquisition labels (as many as the level needs). */
  labels: string[];
  level: (typeof LEVELS)[number];
  name: string;
  /** The file, or the folder to zip. */
  source: string;
  folder: boolean;
  bytes: number;
  members?: { file: string; name: string; size: number }[];
}

async function plan(dir: string): Promise<Item[]> {
  const items: Item[] = [];
  const visit = async (d: string, labels: string[]) => {
    const entries = (await fs.promises.readdir(d, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'));
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isFile()) {
        items.push({
          labels,
          level: LEVELS[labels.length]!,
          name: e.name,
          source: p,
          folder: false,
          bytes: (await fs.promises.stat(p)).size,
        });
      } else if (e.isDirectory()) {
        if (labels.length < 3) await visit(p, [...labels, e.name]);
        else {
          const files = await walkFiles(p);
          const members = files.map((f) => ({ file: f.file, name: path.relative(p, f.file).split(path.sep).join('/'), size: f.size }));
          items.push({
            labels,
            level: 'acquisition',
            name: `${e.name}.zip`,
            source: p,
            folder: true,
            bytes: members.reduce((n, m) => n + m.size, 0),
            members,
          });
        }
      }
    }
  };
  await visit(dir, []);
  return items;
}

async function sha384File(file: string): Promise<string> {
  const h = createHash('sha384');
  for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

/** Already uploaded: same name and, for plain files, the same size and content hash. */
async function alreadyThere(container: Container, item: Item): Promise<boolean> {
  const f = container.files?.find((x) => x.name === item.name);
  if (!f) return false;
  if (item.folder) return true;
  if (f.size !== item.bytes) return false;
  const sha = sha384Of(f.hash);
  return !sha || sha === (await sha384File(item.source));
}

export function register(parent: Command): void {
  parent
    .command('folder')
    .description('import a folder laid out as subject/session/acquisition/files')
    .argument('<dir>', 'folder: <subject>/<session>/<acquisition>/<files>')
    .argument('<group>', 'group id')
    .argument('<project>', 'project label (created when missing)')
    .option('-j, --jobs <n>', 'files uploaded at once (default 3)')
    .option('--limit-rate <rate>', 'at most this many bytes per second in all, e.g. 500k, 2M')
    .option('--dry-run', 'only show what would be uploaded where')
    .option('--json', 'with --dry-run: print the plan as JSON')
    .addHelpText(
      'after',
      `
Folder levels map to the hierarchy: files directly in <dir> go to the project, in <dir>/<subject>
to the subject, and so on down to <dir>/<subject>/<session>/<acquisition>/<file>. A folder inside
an acquisition folder (a DICOM series, say) is uploaded as one <folder>.zip. Files already there
(same name, size and content) are skipped, so a rerun finishes an interrupted import.

Examples:
  $ sprocket import folder ./study lab study1
  $ sprocket import folder ./study lab study1 --dry-run`,
    )
    .action(
      async (
        dir: string,
        groupId: string,
        projectLabel: string,
        opts: { jobs?: string; dryRun?: boolean; json?: boolean; limitRate?: string },
      ) => {
        const jobs = positiveInt('--jobs', opts.jobs, 3);
        const limit = rateLimit(opts.limitRate);
        if (!(await fs.promises.stat(dir).catch(() => undefined))?.isDirectory()) throw new CliError(`not a folder: ${dir}`);
        const items = await plan(dir);
        const where = (i: Item) => [projectLabel, ...i.labels].join('/');
        if (opts.dryRun) {
          if (opts.json)
            printJson(items.map((i) => ({ level: i.level, container: where(i), name: i.name, bytes: i.bytes, folder: i.folder })));
          else
            printTable(items, [
              { header: 'LEVEL', value: (i) => i.level },
              { header: 'CONTAINER', value: where },
              { header: 'SIZE', value: (i) => humanSize(i.bytes), right: true },
              { header: 'FILE', value: (i) => i.name },
            ]);
          return;
        }
        if (!items.length) throw new CliError(`no files found in ${dir}`);
        const { client } = openSession();
        const { project, created } = await ensureProject(client, groupId, projectLabel);
        if (created) process.stdout.write(`Created project ${groupId}/${projectLabel}\n`);
        const tree = await new ProjectTree(project).load();
        const containerOf = async (i: Item): Promise<Container> => {
          if (!i.labels.length) return project;
          const subject = await tree.subject(i.labels[0]!);
          if (i.labels.length === 1) return subject;
          const ses = await tree.session(subject, { label: i.labels[1]! });
          if (i.labels.length === 2) return ses;
          return tree.acquisition(ses, { label: i.labels[2]! });
        };
        const total = items.reduce((n, i) => n + i.bytes, 0);
        const bar = progress('Importing', total, 'bytes');
        let uploaded = 0;
        let skipped = 0;
        const failures: string[] = [];
        try {
          await eachLimit(items, jobs, async (item) => {
            try {
              const container = await containerOf(item);
              if (await alreadyThere(container, item)) {
                skipped++;
                bar.add(item.bytes);
                return;
              }
              let sent = 0;
              const count = (n: number) => {
                sent += n;
                bar.add(n);
              };
              const data = item.folder ? zipStream(item.members!, count, limit) : countedRead(item.source, count, limit);
              try {
                await container.uploadFile({ name: item.name, data });
              } catch (e) {
                bar.add(-sent);
                throw e;
              }
              uploaded++;
            } catch (e) {
              failures.push(`${where(item)}/${item.name}: ${describeError(e)}`);
              if ((e as { status?: number }).status === 0 || (e as { status?: number }).status === 401) throw e;
            }
          });
        } finally {
          bar.stop();
        }
        const c = tree.created;
        process.stdout.write(
          `Imported ${dir} into ${groupId}/${projectLabel}: ${uploaded} files uploaded, ${skipped} already there` +
            `${failures.length ? `, ${failures.length} failed` : ''} (created ${c.subjects} subjects, ${c.sessions} sessions, ${c.acquisitions} acquisitions)\n`,
        );
        if (failures.length)
          throw new CliError(
            `${failures.length} of ${items.length} files failed to import (first: ${failures[0]}); run the same command again to retry them`,
          );
      },
    );
}
