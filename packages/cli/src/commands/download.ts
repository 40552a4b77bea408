import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { FileEntry } from '@sprocket/sdk';
import { type AnyContainerType, PLURAL, safePathSegment } from '@sprocket/types';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { humanSize, printJson, printTable } from '../output.js';
import { type HierarchyObject, lookupPath } from '../paths.js';
import { eachLimit, positiveInt } from '../pool.js';
import { progress } from '../progress.js';
import { openSession } from '../session.js';
import { type FetchOutcome, fetchFile } from '../transfer/fetch-file.js';
import { rateLimit } from '../transfer/rate.js';
import { listTree, type TreeFile } from '../transfer/tree.js';

interface Options {
  output?: string;
  include: string[];
  exclude: string[];
  jobs?: string;
  tar?: boolean;
  list?: boolean;
  json?: boolean;
  limitRate?: string;
  member?: string;
}

const collect = (v: string, prev: string[]) => [
  ...prev,
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

function typeFilter(include: string[], exclude: string[]): (f: FileEntry) => boolean {
  const inc = new Set(include.map((t) => t.toLowerCase()));
  const exc = new Set(exclude.map((t) => t.toLowerCase()));
  return (f) => {
    const t = (f.type ?? '').toLowerCase();
    if (inc.size && !inc.has(t)) return false;
    return !(t && exc.has(t));
  };
}

async function downloadTar(session: ReturnType<typeof openSession>, root: HierarchyObject, opts: Options): Promise<void> {
  const type = root.containerType;
  if (type === 'group') throw new CliError('download a project or something below it, not a whole group');
  const query = { include: opts.include.join(',') || undefined, exclude: opts.exclude.join(',') || undefined };
  const base = `/${PLURAL[type]}/${root.id}/download`;
  // Subtree archives are outside the SDK's route table: sent through its transport by path.
  const summary = await session.client.transport.requestJson<{ file_cnt: number; size: number }>('GET', base, {
    query: { ...query, summary: true },
    retries: 0,
  });
  const dest = path.resolve(opts.output ?? `${safePathSegment((root as { label?: string }).label ?? root.id)}.tar`);
  const res = await session.client.transport.request('GET', base, { query: { ...query, format: 'tar' }, retries: 0 });
  const bar = progress('Downloading', summary.size, 'bytes');
  const tmp = `${dest}.part`;
  let bytes = 0;
  try {
    const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
    body.on('data', (c: Buffer) => {
      bytes += c.length;
      bar.set(Math.min(bytes, summary.size));
    });
    await pipeline(body, fs.createWriteStream(tmp));
    await fs.promises.rename(tmp, dest);
  } finally {
    bar.stop();
  }
  process.stdout.write(`Downloaded ${summary.file_cnt} files (${humanSize(summary.size)}) as ${dest}\n`);
}

export function register(program: Command): void {
  program
    .command('download')
    .description('download a file, or every file under a project, subject, session or acquisition')
    .argument('<path>', 'group/project[/subject/session/acquisition] or …/files/<name>')
    .option('-o, --output <dest>', 'folder to download into (a file name for a single file or --tar)', undefined)
    .option('-i, --include <types>', 'only files of these types (comma-separated, repeatable): dicom, nifti …', collect, [])
    .option('-e, --exclude <types>', 'skip files of these types (comma-separated, repeatable)', collect, [])
    .option('-j, --jobs <n>', 'files downloaded at once (default 4)')
    .option('--limit-rate <rate>', 'at most this many bytes per second in all, e.g. 500k, 2M')
    .option('--tar', "save the server's tar archive of the subtree as one file instead (not resumable)")
    .option('--member <path>', "for a zip file: download only this member (see 'sprocket file members')")
    .option('--list', 'only list what would be downloaded')
    .option('--json', 'with --list: print as JSON')
    .addHelpText(
      'after',
      `
Files land as <group>/<project>/<subject>/<session>/<acquisition>/files/<name> under the output
folder, the layout of the server's archives. Downloads resume: run the same command again after an
interruption and files already complete (same size and sha384) are skipped, partial ones continue
where they stopped (HTTP Range); every file is checked against the server's hash.

Examples:
  $ sprocket download lab/study1 -o ./data
  $ sprocket download lab/study1/sub-01 --include nifti,bval,bvec
  $ sprocket download lab/study1 --exclude dicom --list
  $ sprocket download lab/study1/sub-01/ses-01/T1w/files/t1.nii.gz -o t1.nii.gz
  $ sprocket download lab/study1/sub-01/ses-01/T1w/files/T1w.dicom.zip --member T1w/IM0001.dcm
  $ sprocket download lab/study1 --tar -o study1.tar`,
    )
    .action(async (target: string, opts: Options) => {
      const session = openSession();
      const jobs = positiveInt('--jobs', opts.jobs, 4);
      const limit = rateLimit(opts.limitRate);
      const found = await lookupPath(session.client, target);
      if ('gear' in found && !(found instanceof FileEntry)) throw new CliError(`${target} is a gear; download gear files with the API`);

      if (opts.member !== undefined && !(found instanceof FileEntry))
        throw new CliError(`--member needs a zip file: ${target} is not a file`);
      if (found instanceof FileEntry && opts.member !== undefined) {
        // The server streams the member out of the stored zip; nothing else of the zip is transferred.
        const member = opts.member;
        const written = await found.downloadZipMember(member, opts.output ?? path.posix.basename(member));
        const size = (await fs.promises.stat(written)).size;
        process.stdout.write(`Downloaded ${member} of ${found.name}: ${written} (${humanSize(size)})\n`);
        return;
      }

      if (found instanceof FileEntry) {
        const f = found;
        const parent = f.parent_ref;
        let dest = path.resolve(opts.output ?? f.name);
        if ((await fs.promises.stat(dest).catch(() => undefined))?.isDirectory()) dest = path.join(dest, f.name);
        const bar = progress('Downloading', f.size, 'bytes');
        let outcome: FetchOutcome;
        try {
          outcome = await fetchFile(
            session.client.transport,
            { cont: PLURAL[parent.type as AnyContainerType], id: parent.id, name: f.name, version: f.version, size: f.size, hash: f.hash },
            dest,
            (n) => bar.add(n),
            limit,
          );
        } finally {
          bar.stop();
        }
        process.stdout.write(
          `${outcome === 'complete' ? 'Already complete' : outcome === 'resumed' ? 'Resumed and completed' : 'Downloaded'}: ${dest} (${humanSize(f.size)})\n`,
        );
        return;
      }

      const root = found as HierarchyObject;
      if (opts.tar) return downloadTar(session, root, opts);
      const keep = typeFilter(opts.include, opts.exclude);
      const files = (await listTree(session.client, root)).filter((t) => keep(t.entry));
      const total = files.reduce((n, t) => n + t.entry.size, 0);
      if (opts.list) {
        if (opts.json)
          printJson(files.map((t) => ({ path: t.rel, name: t.entry.name, type: t.entry.type, size: t.entry.size, hash: t.entry.hash })));
        else
          printTable(
            files,
            [
              { header: 'SIZE', value: (t) => humanSize(t.entry.size), right: true },
              { header: 'TYPE', value: (t) => t.entry.type ?? '' },
              { header: 'PATH', value: (t) => t.rel },
            ],
            '(no files)',
          );
        return;
      }
      const outDir = path.resolve(opts.output ?? '.');
      const counts: Record<FetchOutcome, number> = { complete: 0, resumed: 0, downloaded: 0 };
      const bar = progress('Downloading', total, 'bytes');
      let done = 0;
      try {
        await eachLimit(files, jobs, async (t: TreeFile) => {
          const outcome = await fetchFile(
            session.client.transport,
            { cont: t.cont, id: t.id, name: t.entry.name, version: t.entry.version, size: t.entry.size, hash: t.entry.hash },
            path.join(outDir, ...t.rel.split('/')),
            (n) => bar.add(n),
            limit,
          );
          counts[outcome]++;
          bar.note(`${++done}/${files.length} files`);
        });
      } finally {
        bar.stop();
      }
      const parts = [
        `${counts.downloaded} downloaded`,
        ...(counts.resumed ? [`${counts.resumed} resumed`] : []),
        ...(counts.complete ? [`${counts.complete} already complete`] : []),
      ];
      process.stdout.write(`${files.length} files (${humanSize(total)}) in ${outDir}: ${parts.join(', ')}\n`);
    });
}
