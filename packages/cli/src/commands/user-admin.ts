import type { User } from '@sprocket/sdk';
import { SITE_ROLES } from '@sprocket/types';
import type { Command } from 'commander';
import { confirmOrRefuse } from '../confirm.js';
import { CliError } from '../errors.js';
import { plain, printJson, printTable, shortDate } from '../output.js';
import { openSession } from '../session.js';

function siteRoles(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const roles = raw
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const bad = roles.filter((r) => !(SITE_ROLES as readonly string[]).includes(r));
  if (bad.length) throw new CliError(`--roles: unknown site role ${bad.map((r) => `'${r}'`).join(', ')} (one of ${SITE_ROLES.join(', ')})`);
  return roles;
}

export function register(parent: Command): void {
  parent
    .command('add')
    .description('create a user (site admins); give them a key with `sprocket key add --user <id>`')
    .argument('<id>', 'user id, usually their email address')
    .option('--email <email>', 'email (defaults to the id when it looks like one)')
    .option('--firstname <name>', 'first name')
    .option('--lastname <name>', 'last name')
    .option('--roles <roles>', `site roles, comma-separated: ${SITE_ROLES.join(', ')} (default user)`)
    .option('--key', 'also issue an API key for them and print it')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket user add ana@lab.org --firstname Ana --lastname Silva --key\n  $ sprocket user add dev@lab.org --roles user,developer',
    )
    .action(async (id: string, opts: { email?: string; firstname?: string; lastname?: string; roles?: string; key?: boolean }) => {
      const roles = siteRoles(opts.roles);
      const { client } = openSession();
      const email = opts.email ?? (/^[^\s@]+@[^\s@]+$/.test(id) ? id : undefined);
      const user = await client.addUser({ id, email, firstname: opts.firstname, lastname: opts.lastname, roles });
      process.stdout.write(`Created user ${user.id} (${(user.roles ?? []).join(', ') || 'user'})\n`);
      if (opts.key) {
        const issued = await client.addApiKey({ userId: user.id });
        process.stdout.write(`API key (shown once): ${issued.key}\n`);
      }
    });

  parent
    .command('ls')
    .description('list users (site admins)')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ sprocket user ls\n  $ sprocket user ls --json')
    .action(async (opts: { json?: boolean }) => {
      const { client } = openSession();
      const users: User[] = await client.users.find();
      if (opts.json) return printJson(plain(users));
      printTable(
        users,
        [
          { header: 'ID', value: (u) => u.id },
          { header: 'NAME', value: (u) => [u.firstname, u.lastname].filter(Boolean).join(' ') },
          { header: 'ROLES', value: (u) => (u.roles ?? []).join(',') },
          { header: 'STATE', value: (u) => (u.disabled ? 'disabled' : 'active') },
          { header: 'CREATED', value: (u) => shortDate(u.created) },
        ],
        '(no users)',
      );
    });

  parent
    .command('disable')
    .description('disable a user (site admins): they can no longer log in and every key of theirs is revoked')
    .argument('<id>', 'user id')
    .option('-y, --yes', 'do not ask (needed where there is no terminal to ask on)')
    .addHelpText(
      'after',
      `
Users are never deleted (files and jobs keep naming them). Re-enabling brings no key back: issue a
new one with 'sprocket key add --user <id>'.

Examples:
  $ sprocket user disable ana@lab.org
  $ sprocket user disable ana@lab.org --yes`,
    )
    .option('--enable', 'enable the user again instead')
    .action(async (id: string, opts: { yes?: boolean; enable?: boolean }) => {
      const { client } = openSession();
      const user = await client.getUser(id);
      if (opts.enable) {
        await user.update({ disabled: false });
        process.stdout.write(`Enabled user ${id} (issue a key with: sprocket key add --user ${id})\n`);
        return;
      }
      await confirmOrRefuse(`Disable user ${id} and revoke all their keys`, opts.yes);
      await user.update({ disabled: true });
      process.stdout.write(`Disabled user ${id}; their keys are revoked\n`);
    });
}
