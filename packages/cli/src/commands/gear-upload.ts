import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiError } from '@sprocket/sdk';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { readManifest } from '../gears/manifest-file.js';
import { packGear } from '../gears/pack.js';
import { humanSize, info, plain, printJson } from '../output.js';
import { openSession } from '../session.js';

export function register(parent: Command): void {
  parent
    .command('upload')
    .description('check a gear folder and upload it to the server')
    .argument('[dir]', 'the gear folder (holding manifest.json)', '.')
    .option('--category <category>', 'category when the manifest has no custom.gear-builder.category')
    .option('--json', 'print the uploaded gear as JSON')
    .addHelpText(
      'after',
      `
The manifest is checked here, with the server's own validator, before anything is sent; a problem
is reported with its JSON path (e.g. manifest.config.threshold.type). The folder is packed as a
tar.gz (input/, output/, work/, config.json and .git left out). A version can be uploaded once:
bump "version" in manifest.json for every new upload. Needs the developer or site_admin role.

Examples:
  $ sprocket gear upload
  $ sprocket gear upload ./gears/my-gear --category qa`,
    )
    .action(async (dir: string, opts: { category?: string; json?: boolean }) => {
      const { manifest, warnings } = await readManifest(dir);
      for (const w of warnings) info(`warning: ${w}`);
      const { client } = openSession();
      const tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'sprocket-gear-'));
      try {
        const archive = path.join(tmp, `${manifest.name}-${manifest.version}.tar.gz`);
        const packed = await packGear(dir, archive);
        let gear: Awaited<ReturnType<typeof client.addGear>>;
        try {
          gear = await client.addGear(archive, { category: opts.category });
        } catch (e) {
          if (e instanceof ApiError && e.status === 409) {
            throw new CliError(
              `gear ${manifest.name} version ${manifest.version} is already on the server: bump "version" in manifest.json`,
            );
          }
          throw e;
        }
        if (opts.json) printJson(plain(gear));
        else
          process.stdout.write(
            `Uploaded gear ${gear.name} ${gear.version} (${gear.category}, ${packed.files} files, ${humanSize((await fs.promises.stat(archive)).size)} packed), id ${gear.id}\n` +
              `Find it with 'sprocket gear ls'; run it with 'sprocket job run ${gear.name} …'\n`,
          );
      } finally {
        await fs.promises.rm(tmp, { recursive: true, force: true });
      }
    });
}
