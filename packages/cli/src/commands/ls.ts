import { FileEntry, type LookupResult } from '@sprocket/sdk';
import type { Command } from 'commander';
import { humanSize, plain, printJson, printTable, shortDate } from '../output.js';
import { resolvePath, splitPath, typeOf } from '../paths.js';
import { openSession } from '../session.js';

interface Row {
  kind: string;
  name: string;
  size?: number;
  modified?: string;
  id: string;
}

function rowOf(x: LookupResult): Row {
  if (x instanceof FileEntry)
    return { kind: x.type ? `file (${x.type})` : 'file', name: x.name, size: x.size, modified: x.modified, id: x.file_id ?? x.id };
  const doc = x as unknown as { label?: string; modified?: string; id: string; gear?: { name: string; version: string } };
  const kind = typeOf(x);
  // Paths name groups by id; the label is shown beside it.
  const name =
    kind === 'gear'
      ? `${doc.gear!.name} ${doc.gear!.version}`
      : kind === 'group'
        ? doc.label && doc.label !== doc.id
          ? `${doc.id} (${doc.label})`
          : doc.id
        : (doc.label ?? doc.id);
  return { kind, name, modified: doc.modified, id: doc.id };
}

export function register(program: Command): void {
  program
    .command('ls')
    .description('list what is at a path: groups, then projects, subjects, sessions, acquisitions and files')
    .argument('[path]', 'group/project/subject/session/acquisition (or …/files/<name>); nothing lists your groups')
    .option('--json', 'print as JSON')
    .option('--ids', 'show ids')
    .addHelpText(
      'after',
      `
Examples:
  $ sprocket ls                              # your groups
  $ sprocket ls lab                          # projects of group 'lab'
  $ sprocket ls lab/study1/sub-01/ses-01     # acquisitions and files of a session
  $ sprocket ls lab/study1/sub-01/ses-01/T1w/files/t1.nii.gz
  $ sprocket ls lab/study1 --json | jq '.children[].label'`,
    )
    .action(async (path: string | undefined, opts: { json?: boolean; ids?: boolean }) => {
      const { client } = openSession();
      let children: LookupResult[];
      let target: LookupResult | undefined;
      if (!path || !splitPath(path).length) {
        children = await client.groups.find();
      } else {
        // A label shared by several containers is an error listing them; an id works in its place.
        const res = await resolvePath(client, path);
        target = res.path[res.path.length - 1];
        children = res.children;
      }
      if (opts.json) {
        printJson(target ? { path: plain(target), children: plain(children) } : plain(children));
        return;
      }
      // A file path lists the file itself.
      const rows = (target instanceof FileEntry && !children.length ? [target] : children).map(rowOf);
      rows.sort((a, b) => Number(a.kind.startsWith('file')) - Number(b.kind.startsWith('file')) || a.name.localeCompare(b.name));
      printTable(
        rows,
        [
          { header: 'TYPE', value: (r) => r.kind },
          { header: 'SIZE', value: (r) => humanSize(r.size), right: true },
          { header: 'MODIFIED', value: (r) => shortDate(r.modified) },
          ...(opts.ids ? [{ header: 'ID', value: (r: Row) => r.id }] : []),
          { header: 'NAME', value: (r) => r.name },
        ],
        '(empty)',
      );
    });
}
