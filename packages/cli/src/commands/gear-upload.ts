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
    .option('--image <archive>', 'the container image the manifest names, as a podman save / docker save archive (tar or tar.gz)')
    .option('--json', 'print the uploaded gear as JSON')
    .addHelpText(
      'after',
      `
The manifest is checked here, with the server's own validator, before anything is sent; a problem
is reported with its JSON path (e.g. manifest.config.threshold.type). The folder is packed as a
tar.gz (input/, output/, work/, config.json and .git left out). A version can be uploaded once:
bump "version" in manifest.json for every new upload. Needs the developer or site_admin role.

--image sends the gear's container image with it, for sites without a registry: engines load it
into podman or unpack it for charliecloud. It must provide the image the manifest names
(custom.gear-builder.image); make it with 'podman save -o gear.tar <image>' (or docker save).

Examples:
  $ sprocket gear upload
  $ sprocket gear upload ./gears/my-gear --category qa
  $ podman save -o my-gear.tar localhost/my-gear:1.0 && sprocket gear upload ./gears/my-gear --image my-gear.tar`,
    )
    .action(async (dir: string, opts: { category?: string; image?: string; json?: boolean }) => {
      const { manifest, warnings } = await readManifest(dir);
      for (const w of warnings) info(`warning: ${w}`);
      const image = opts.image ? await imageArchive(opts.image, manifest) : undefined;
      const { client } = openSession();
      const tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'sprocket-gear-'));
      try {
        const archive = path.join(tmp, `${manifest.name}-${manifest.version}.tar.gz`);
        const packed = await packGear(dir, archive);
        let gear: Awaited<ReturnType<typeof client.addGear>>;
        try {
          gear = await client.addGear(archive, { category: opts.category, ...(image ? { image: image.path } : {}) });
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
            `Uploaded gear ${gear.name} ${gear.version} (${gear.category}, ${packed.files} files, ${humanSize((await fs.promises.stat(archive)).size)} packed)${image ? ` with image ${image.name} (${humanSize(image.size)})` : ''}, id ${gear.id}\n` +
              `Find it with 'sprocket gear ls'; run it with 'sprocket job run ${gear.name} …'\n`,
          );
      } finally {
        await fs.promises.rm(tmp, { recursive: true, force: true });
      }
    });
}

/** The --image file, checked before anything is sent: it exists, and the manifest names an image. */
async function imageArchive(file: string, manifest: { custom?: unknown }): Promise<{ path: string; size: number; name: string }> {
  const st = await fs.promises.stat(file).catch(() => undefined);
  if (!st?.isFile()) throw new CliError(`--image: ${file} is not a file (make one with 'podman save -o ${file} <image>')`);
  const custom = manifest.custom as { 'gear-builder'?: { image?: unknown } } | undefined;
  const name = custom?.['gear-builder']?.image;
  if (typeof name !== 'string' || !name)
    throw new CliError('--image: manifest.json names no container image (custom.gear-builder.image): the image would not be used');
  return { path: file, size: st.size, name };
}
