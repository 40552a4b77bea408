import { FileEntry } from '@sprocket/sdk';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { humanSize, printJson, printTable, shortDate } from '../output.js';
import { lookupPath } from '../paths.js';
import { openSession } from '../session.js';

/** `sprocket file members <path>`: what a zip file on the server holds, read from its directory (nothing is downloaded). */
export function register(file: Command): void {
  file
    .command('members')
    .description('list the members of a zip file on the server (path, size, modification time)')
    .argument('<path>', 'group/project/…/files/<name> of a zip file')
    .option('--json', "print as JSON (Flywheel's FileZipInfo: {comment, members: [{path, size, timestamp, comment}]})")
    .addHelpText(
      'after',
      `
Download one member with 'sprocket download <path> --member <member path>'.

Examples:
  $ sprocket file members lab/study1/sub-01/ses-01/T1w/files/T1w.dicom.zip
  $ sprocket file members lab/study1/sub-01/ses-01/T1w/files/T1w.dicom.zip --json | jq '.members[].path'`,
    )
    .action(async (target: string, opts: { json?: boolean }) => {
      const { client } = openSession();
      const found = await lookupPath(client, target);
      if (!(found instanceof FileEntry)) throw new CliError(`${target} is not a file: name one as <container path>/files/<name>`);
      const info = await found.getZipInfo();
      if (opts.json) return printJson(info);
      printTable(
        info.members,
        [
          { header: 'SIZE', value: (m) => humanSize(m.size), right: true },
          { header: 'MODIFIED', value: (m) => shortDate(m.timestamp) },
          { header: 'PATH', value: (m) => m.path },
        ],
        '(the zip is empty)',
      );
    });
}
