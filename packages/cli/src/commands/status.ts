import type { Command } from 'commander';
import { printJson } from '../output.js';
import { openSession } from '../session.js';
import { displayName } from '../user-name.js';

export function register(program: Command): void {
  program
    .command('status')
    .description('show who you are logged in as, and where')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ sprocket status\n  $ sprocket status --json')
    .action(async (opts: { json?: boolean }) => {
      const { client, baseUrl } = openSession();
      const [user, version] = await Promise.all([client.getCurrentUser(), client.getVersion()]);
      const site = baseUrl.replace(/\/api$/, '');
      if (opts.json) {
        printJson({ url: site, user: { id: user.id, email: user.email, name: displayName(user), roles: user.roles }, version });
        return;
      }
      process.stdout.write(
        `You are logged in as ${displayName(user)} <${user.email ?? user.id}> at ${site}\n` +
          `Site roles: ${(user.roles ?? []).join(', ') || 'none'}\n` +
          `Server: Sprocket ${String(version.sprocket_version ?? version.cli_version ?? '?')} (Flywheel API ${version.release})\n`,
      );
    });
}
