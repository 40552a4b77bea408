import type { Command } from 'commander';
import { findRule, projectAt } from '../rules/rules.js';
import { openSession } from '../session.js';

function toggle(parent: Command, name: 'disable' | 'enable'): void {
  const disabled = name === 'disable';
  parent
    .command(name)
    .description(disabled ? 'stop a gear rule from firing (it is kept)' : 'let a disabled gear rule fire again')
    .argument('<project>', 'group/project')
    .argument('<rule>', 'rule id or name')
    .addHelpText(
      'after',
      `\nExamples:\n  $ sprocket rule ${name} lab/study1 dcm2niix\n  $ sprocket rule ${name} lab/study1 6650f0c2a1b2c3d4e5f60718`,
    )
    .action(async (path: string, ref: string) => {
      const { client } = openSession();
      const project = await projectAt(client, path);
      const rule = await findRule(client, project, ref);
      await client.modifyProjectRule(project.id, rule.id, { disabled });
      process.stdout.write(`Rule ${rule.id} (${rule.name}) is now ${disabled ? 'disabled' : 'enabled'}\n`);
    });
}

export function register(parent: Command): void {
  toggle(parent, 'disable');
  toggle(parent, 'enable');
}
