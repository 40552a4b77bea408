import { ApiError, type Container, FileEntry, type LookupResult } from '@sprocket/sdk';
import type { Command } from 'commander';
import { confirmOrRefuse } from '../confirm.js';
import { CliError } from '../errors.js';
import { lookupPath, splitPath, typeOf } from '../paths.js';
import { openSession } from '../session.js';

/** Where each container type may be moved to, and the PUT body that says so (Flywheel's fields). */
const MOVES: Record<string, Record<string, (id: string) => Record<string, unknown>>> = {
  session: { subject: (id) => ({ subject: { _id: id } }) },
  acquisition: { session: (id) => ({ session: id }) },
};
const FIELD: Record<string, string> = { session: 'subject', acquisition: 'session' };

export function register(program: Command): void {
  program
    .command('mv')
    .description('rename a container (same parent, new label), or move a session to another subject, an acquisition to another session')
    .argument('<path>', 'what to rename or move (a bare id works)')
    .argument('<dest>', 'the same path with a new last label, or the container to move into')
    .option('-y, --yes', 'do not ask (needed where there is no terminal to ask on)')
    .addHelpText(
      'after',
      `
Examples:
  $ sprocket mv lab/study1/sub-01/ses-01 lab/study1/sub-01/baseline              # rename
  $ sprocket mv lab/study1/sub-01/6650f0c2a1b2c3d4e5f60718 lab/study1/sub-02     # move a session
  $ sprocket mv lab/study1/sub-01/ses-01 lab/study2/sub-01                       # into another project
  $ sprocket mv lab/study1/sub-01/ses-01/T1w lab/study1/sub-01/ses-02 --yes      # move an acquisition`,
    )
    .action(async (path: string, dest: string, opts: { yes?: boolean }) => {
      const { client } = openSession();
      const src: LookupResult = await lookupPath(client, path);
      const kind = typeOf(src);
      if (src instanceof FileEntry)
        throw new CliError(
          'renaming or moving files is not supported by the API: upload the file under the new name or place, then sprocket rm the old one',
        );
      if (kind === 'group' || kind === 'gear')
        throw new CliError(`${path} is a ${kind}: only projects, subjects, sessions, acquisitions and analyses can be renamed`);
      const container = src as Container;
      const from = splitPath(path);
      const to = splitPath(dest);
      // Same parent, another last element: a rename.
      if (from.length > 1 && to.length === from.length && from.slice(0, -1).join('/') === to.slice(0, -1).join('/')) {
        const label = to[to.length - 1]!;
        await confirmOrRefuse(`Rename ${kind} ${path} to '${label}'`, opts.yes);
        await container.update(kind === 'subject' ? { label, code: label } : { label });
        process.stdout.write(`Renamed ${kind} ${path} to ${label}\n`);
        return;
      }
      const target = await lookupPath(client, dest);
      const targetKind = typeOf(target);
      const body = MOVES[kind]?.[targetKind];
      const field = FIELD[kind]!;
      if (!body) {
        const allowed = MOVES[kind] ? Object.keys(MOVES[kind]!).join(' or ') : undefined;
        throw new CliError(
          allowed
            ? `a ${kind} moves into a ${allowed}, not ${/^[aeiou]/.test(targetKind) ? 'an' : 'a'} ${targetKind} (${dest})`
            : `${kind}s cannot be moved, only renamed (give the same path with a new last label)`,
        );
      }
      const targetId = (target as Container).id;
      await confirmOrRefuse(`Move ${kind} ${path} (id ${container.id}) and everything under it into ${targetKind} ${dest}`, opts.yes);
      try {
        await container.update(body(targetId));
      } catch (e) {
        // Sprocket servers before moves existed refuse the field as unknown.
        if (e instanceof ApiError && e.status === 400 && new RegExp(`\\b${field}\\b`).test(e.message))
          throw new CliError(`this server does not support moving ${kind}s (PUT /${kind}s/{id} with '${field}')`);
        throw e;
      }
      process.stdout.write(`Moved ${kind} ${container.label ?? container.id} into ${targetKind} ${dest}\n`);
    });
}
