import { removeStoredKey } from '@sprocket/sdk';
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('logout')
    .description('forget the stored API key')
    .addHelpText('after', '\nExamples:\n  $ sprocket logout')
    .action(() => {
      process.stdout.write(removeStoredKey() ? 'You are now logged out\n' : 'You were not logged in\n');
    });
}
