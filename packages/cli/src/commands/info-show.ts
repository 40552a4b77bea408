import { type Container, FileEntry, type Group, type LookupResult, type Origin } from '@sprocket/sdk';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { humanSize, plain, printJson, shortDate } from '../output.js';
import { type HierarchyObject, lookupPath, typeOf } from '../paths.js';
import { openSession } from '../session.js';

type Json = Record<string, unknown>;

/** `job 65f0… (dcm2niix@1.0.0, launched by ana@lab.org)`, `upload by ana@lab.org`, … */
export function describeOrigin(o: Origin | undefined): string {
  if (!o?.type) return 'unknown';
  if (o.type === 'job') {
    const gear = o.gear_info ? `${o.gear_info.name}@${o.gear_info.version}` : undefined;
    const by = o.launched_by ? launcher(o.launched_by) : undefined;
    const about = [gear, by ? `launched by ${by}` : undefined].filter(Boolean).join(', ');
    return `job ${o.id}${about ? ` (${about})` : ''}`;
  }
  if (o.type === 'user') return `upload by ${o.id}${o.via?.type === 'job' ? ` through job ${o.via.id}` : ''}`;
  return `${o.type} ${o.id}`;
}

function launcher(l: NonNullable<Origin['launched_by']>): string {
  if (l.type === 'user') return String(l.id);
  if (l.via?.type === 'rule') return `gear rule ${l.via.id}${l.via.user ? ` (of ${l.via.user})` : ''}`;
  return `${l.type}${l.id ? ` ${l.id}` : ''}`;
}

const classification = (c: Record<string, string[]> | undefined) =>
  Object.entries(c ?? {})
    .map(([k, vs]) => `${k}: ${vs.join(', ')}`)
    .join('; ');

/** The file's document with its origin described as its current version records it (gear, launcher). */
async function fileWithOrigin(file: FileEntry): Promise<FileEntry> {
  const versions = await file.getVersions();
  const current = versions.find((v) => v.version === file.version) ?? versions[versions.length - 1];
  if (current) file.origin = current.origin;
  return file;
}

function lines(pairs: [string, string | number | null | undefined][]): string {
  const shown = pairs.filter(([, v]) => v !== undefined && v !== null && v !== '');
  const width = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

function block(title: string, value: unknown): string {
  if (!value || (typeof value === 'object' && !Object.keys(value).length)) return '';
  return `\n${title}:\n${JSON.stringify(value, null, 2).replace(/^/gm, '  ')}\n`;
}

function showFile(f: FileEntry): string {
  const info = { ...(f.info ?? {}) } as Json;
  const header = (info.header as Json | undefined)?.dicom;
  if (header) {
    const { dicom: _d, ...rest } = info.header as Json;
    if (Object.keys(rest).length) info.header = rest;
    else delete info.header;
  }
  const head = lines([
    ['file', f.name],
    ['id', f.file_id ?? f.id],
    ['on', `${f.parent_ref.type} ${f.parent_ref.id}`],
    ['type', f.type],
    ['size', humanSize(f.size)],
    ['version', f.version],
    ['modality', f.modality],
    ['classification', classification(f.classification)],
    ['tags', (f.tags ?? []).join(', ')],
    ['origin', describeOrigin(f.origin)],
    ['hash', f.hash],
    ['created', shortDate(f.created)],
    ['modified', shortDate(f.modified)],
  ]);
  return `${head}\n${block('DICOM header', header)}${block('info', info)}`;
}

function showContainer(c: HierarchyObject): string {
  const doc = c as unknown as Json & { info?: Json; tags?: string[]; files?: FileEntry[] };
  const kind = typeOf(c as LookupResult);
  const head = lines([
    [kind, String(doc.label ?? c.id)],
    ['id', c.id],
    [
      'parents',
      Object.entries((doc.parents as Json | undefined) ?? {})
        .filter(([, v]) => v)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    ],
    ['uid', doc.uid as string | undefined],
    ['timestamp', doc.timestamp as string | undefined],
    ['modality', doc.modality as string | undefined],
    ['tags', (doc.tags ?? []).join(', ')],
    ['files', doc.files?.length ? doc.files.map((f) => f.name).join(', ') : undefined],
    ['created', shortDate(doc.created as string | undefined)],
    ['modified', shortDate(doc.modified as string | undefined)],
  ]);
  return `${head}\n${block('info', doc.info)}`;
}

export function register(info: Command): void {
  info
    .argument('[path]', 'a container (group/project/…) or a file (…/files/<name>); a bare container id works too')
    .option('--json', 'print the whole document as JSON')
    .action(async (path: string | undefined, opts: { json?: boolean }) => {
      if (!path) throw new CliError("a path is required: 'sprocket info <path>' (or 'sprocket info set|rm …')");
      const { client } = openSession();
      let found = await lookupPath(client, path);
      if (found instanceof FileEntry) found = await fileWithOrigin(found);
      else if (typeOf(found) === 'gear') throw new CliError(`${path} is a gear: see 'sprocket gear ls'`);
      if (opts.json) return printJson(plain(found));
      process.stdout.write(found instanceof FileEntry ? showFile(found) : showContainer(found as Group | Container));
    });
}
