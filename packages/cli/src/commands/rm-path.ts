import { FileEntry, type Group, type LookupResult } from '@sprocket/sdk';
import type { Command } from 'commander';
import { confirmOrRefuse } from '../confirm.js';
import { CliError } from '../errors.js';
import { lookupPath, typeOf } from '../paths.js';
import { openSession } from '../session.js';

export function register(program: Command): void {
  program
    .command('rm')
    .description('delete a container and everything under it, or a file with all its versions')
    .argument('<path>', 'container (a bare id works) or …/files/<name>')
    .option('-y, --yes', 'do not ask (needed where there is no terminal to ask on)')
    .addHelpText(
      'after',
      `
Examples:
  $ sprocket rm lab/study1/sub-01/ses-01/T1w/files/old.nii.gz
  $ sprocket rm lab/study1/sub-01/6650f0c2a1b2c3d4e5f60718 --yes   # one of two same-label sessions`,
    )
    .action(async (path: string, opts: { yes?: boolean }) => {
      const { client } = openSession();
      const found: LookupResult = await lookupPath(client, path);
      const kind = typeOf(found);
      if (kind === 'gear') throw new CliError(`${path} is a gear: gears are not removed with rm`);
      if (found instanceof FileEntry) {
        await confirmOrRefuse(`Delete file ${path} (all ${found.version} version${found.version === 1 ? '' : 's'})`, opts.yes);
        await found.delete();
        process.stdout.write(`Deleted file ${path}\n`);
        return;
      }
      const c = found as Group | { id: string; delete(): Promise<void> };
      await confirmOrRefuse(
        kind === 'group'
          ? `Delete group ${c.id} (it must have no projects left)`
          : `Delete ${kind} ${path} (id ${c.id}) and everything under it`,
        opts.yes,
      );
      await c.delete();
      process.stdout.write(`Deleted ${kind} ${path}\n`);
    });
}
