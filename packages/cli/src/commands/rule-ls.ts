import type { Command } from 'commander';
import { printJson, printTable } from '../output.js';
import { conditionsText, projectAt } from '../rules/rules.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('ls')
    .description("list a project's gear rules")
    .argument('<project>', 'group/project')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ sprocket rule ls lab/study1\n  $ sprocket rule ls lab/study1 --json')
    .action(async (path: string, opts: { json?: boolean }) => {
      const { client } = openSession();
      const project = await projectAt(client, path);
      const rules = await client.getProjectRules(project.id);
      // As the API sends them (`_id`), like every other --json listing.
      if (opts.json) return printJson(rules.map(({ id, ...r }) => ({ _id: id, ...r })));
      const gearNames = new Map<string, string>();
      for (const r of rules) {
        if (!gearNames.has(r.gear_id)) {
          const g = await client.getGear(r.gear_id).catch(() => undefined);
          gearNames.set(r.gear_id, g ? `${g.name} ${g.version}` : r.gear_id);
        }
      }
      printTable(
        rules,
        [
          { header: 'ID', value: (r) => r.id },
          { header: 'NAME', value: (r) => r.name },
          { header: 'GEAR', value: (r) => `${gearNames.get(r.gear_id)}${r.auto_update ? ' (latest)' : ''}` },
          { header: 'STATE', value: (r) => (r.disabled ? 'disabled' : 'enabled') },
          { header: 'WHEN', value: conditionsText },
        ],
        '(no rules)',
      );
    });
}
