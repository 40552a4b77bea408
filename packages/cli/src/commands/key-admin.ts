import type { ApiKey } from '@sprocket/sdk';
import type { Command } from 'commander';
import { confirmOrRefuse } from '../confirm.js';
import { checkId } from '../errors.js';
import { printJson, printTable, shortDate } from '../output.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('add')
    .description("issue an API key: yours, or (site admins) another user's; it is printed once")
    .option('--user <id>', 'for this user (site admins)')
    .option('--label <label>', 'a name to tell keys apart in `key ls`')
    .option('--json', 'print {id, key} as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket key add --label laptop\n  $ sprocket key add --user ana@lab.org --label "Ana\'s scripts"',
    )
    .action(async (opts: { user?: string; label?: string; json?: boolean }) => {
      const { client } = openSession();
      const issued = await client.addApiKey({ userId: opts.user, label: opts.label });
      if (opts.json) return printJson(issued);
      process.stdout.write(
        `Issued key ${issued.id}${opts.user ? ` for ${opts.user}` : ''} (shown once; 'sprocket login <key>' uses it):\n${issued.key}\n`,
      );
    });

  parent
    .command('ls')
    .description("list API keys (never their secrets): yours, or (site admins) another user's")
    .option('--user <id>', 'of this user (site admins)')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ sprocket key ls\n  $ sprocket key ls --user ana@lab.org --json')
    .action(async (opts: { user?: string; json?: boolean }) => {
      const { client } = openSession();
      const keys: ApiKey[] = await client.getApiKeys(opts.user);
      if (opts.json) return printJson(keys);
      printTable(
        keys,
        [
          { header: 'ID', value: (k) => k.id },
          { header: 'LABEL', value: (k) => k.label },
          { header: 'STATE', value: (k) => (k.revoked ? 'revoked' : 'active') },
          { header: 'CREATED', value: (k) => shortDate(k.created) },
          { header: 'LAST USED', value: (k) => shortDate(k.last_used) || 'never' },
        ],
        '(no keys)',
      );
    });

  parent
    .command('revoke')
    .description("revoke an API key: yours, or (site admins) another user's; anything using it stops working")
    .argument('<id>', 'key id (from `key ls`)')
    .option('--user <id>', 'a key of this user (site admins)')
    .option('-y, --yes', 'do not ask (needed where there is no terminal to ask on)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket key revoke 6650f0c2a1b2c3d4e5f60718\n  $ sprocket key revoke 6650f0c2a1b2c3d4e5f60718 --user ana@lab.org --yes',
    )
    .action(async (id: string, opts: { user?: string; yes?: boolean }) => {
      checkId('key', id);
      const { client } = openSession();
      await confirmOrRefuse(`Revoke API key ${id}${opts.user ? ` of ${opts.user}` : ''}`, opts.yes);
      await client.revokeApiKey(id, opts.user);
      process.stdout.write(`Revoked key ${id}\n`);
    });
}
