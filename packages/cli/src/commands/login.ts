import { storeKey } from '@sprocket/sdk';
import type { Command } from 'commander';
import { sessionFor } from '../session.js';
import { displayName } from '../user-name.js';

export function register(program: Command): void {
  program
    .command('login')
    .description('check an API key with the server and store it for later commands')
    .argument('<key>', 'API key: <host>:<port>[:__force_insecure]:<secret> (it names the server)')
    .addHelpText(
      'after',
      `
The key is stored in ~/.config/sprocket/user.json (mode 0600), where the SDK's Client also finds it.

Examples:
  $ sprocket login 127.0.0.1:8080:__force_insecure:AbCdEf0123
  $ sprocket login "$(cat sprocket-data/admin-api-key)"`,
    )
    .action(async (key: string) => {
      const { client, baseUrl } = sessionFor(key.trim());
      const user = await client.getCurrentUser();
      const file = storeKey(key.trim());
      process.stdout.write(`You are now logged in as ${displayName(user)} (${baseUrl.replace(/\/api$/, '')}; key stored in ${file})\n`);
    });
}
