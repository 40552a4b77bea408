import type { FileEntry } from '@sprocket/sdk';
import type { Command } from 'commander';
import { humanSize, plain, printJson, printTable, shortDate } from '../output.js';
import { lookupFile } from '../paths.js';
import { openSession } from '../session.js';
import { describeOrigin } from './info-show.js';

export function register(file: Command): void {
  file
    .command('versions')
    .description('list every stored version of a file and what made it (an upload, or a job and its gear)')
    .argument('<path>', '…/files/<name>')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `
Earlier versions stay readable through the API (GET …/files/<name>?version=N; in the SDK
file.read({ version: N })).

Examples:
  $ sprocket file versions lab/study1/sub-01/ses-01/T1w/files/T1w.nii.gz
  $ sprocket file versions lab/study1/sub-01/ses-01/T1w/files/T1w.nii.gz --json`,
    )
    .action(async (path: string, opts: { json?: boolean }) => {
      const { client } = openSession();
      const versions: FileEntry[] = await (await lookupFile(client, path)).getVersions();
      if (opts.json) return printJson(plain(versions));
      printTable(versions, [
        { header: 'VERSION', value: (v) => v.version, right: true },
        { header: 'SIZE', value: (v) => humanSize(v.size), right: true },
        { header: 'CREATED', value: (v) => shortDate(v.created) },
        { header: 'STATE', value: (v) => (v.replaced ? 'replaced' : 'current') },
        { header: 'HASH', value: (v) => v.hash.replace(/^v0-sha384-/, '').slice(0, 12) },
        { header: 'MADE BY', value: (v) => describeOrigin(v.origin) },
      ]);
    });
}
