import { FileEntry, type Group, type LookupResult } from '@sprocket/sdk';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { lookupPath, typeOf } from '../paths.js';
import { openSession } from '../session.js';

/** Tags of whatever the path names, and a way to store a new list. */
async function tagsAt(path: string): Promise<{ tags: string[]; save: (add: string[], remove: string[]) => Promise<void> }> {
  const { client } = openSession();
  const found: LookupResult = await lookupPath(client, path);
  const kind = typeOf(found);
  if (kind === 'gear') throw new CliError(`${path} is a gear, which has no tags`);
  const tags = [...(((found as unknown as { tags?: string[] }).tags ?? []) as string[])];
  if (found instanceof FileEntry || kind === 'group') {
    // Files and groups store the tag list whole.
    const target = found as FileEntry | Group;
    return {
      tags,
      save: async (add, remove) => void (await target.update({ tags: [...new Set([...tags, ...add])].filter((t) => !remove.includes(t)) })),
    };
  }
  const c = found as unknown as { addTag(t: string): Promise<unknown>; deleteTag(t: string): Promise<unknown> };
  return {
    tags,
    save: async (add, remove) => {
      for (const t of add) if (!tags.includes(t)) await c.addTag(t);
      for (const t of remove) await c.deleteTag(t);
    },
  };
}

export function register(tag: Command): void {
  tag
    .command('add')
    .description('tag a container or file')
    .argument('<path>', 'container or …/files/<name>')
    .argument('<tag...>', 'tags to add')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket tag add lab/study1/sub-01/ses-01 reviewed\n  $ sprocket tag add lab/study1/sub-01/ses-01/T1w/files/t1.nii.gz motion artefact',
    )
    .action(async (path: string, add: string[]) => {
      const t = await tagsAt(path);
      await t.save(add, []);
      process.stdout.write(`Tagged ${path}: ${add.join(', ')}\n`);
    });

  tag
    .command('rm')
    .description('remove tags from a container or file')
    .argument('<path>', 'container or …/files/<name>')
    .argument('<tag...>', 'tags to remove')
    .addHelpText('after', '\nExamples:\n  $ sprocket tag rm lab/study1/sub-01/ses-01 reviewed')
    .action(async (path: string, remove: string[]) => {
      const t = await tagsAt(path);
      const missing = remove.filter((r) => !t.tags.includes(r));
      if (missing.length)
        throw new CliError(`${path} has no tag ${missing.map((m) => `'${m}'`).join(', ')} (its tags: ${t.tags.join(', ') || 'none'})`);
      await t.save([], remove);
      process.stdout.write(`Removed tags from ${path}: ${remove.join(', ')}\n`);
    });
}
