import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseMemory } from '../resources.js';
import { type CharliecloudExecutor, chImageName } from './charliecloud.js';
import { type ImageLimits, unpackImage } from './image-archive.js';
import { PODMAN_GLOBAL } from './podman.js';

/** Where the engine learns of, and fetches, the image archive uploaded with a gear (the API). */
export interface ImageArchiveSource {
  /** The archive's sha-256 (`sha256:…`), size and the image it provides, or undefined: the gear has none. */
  info(gearId: string): Promise<{ digest: string; size: number; image: string } | undefined>;
  /** Streams the archive into `dest`. */
  download(gearId: string, dest: string): Promise<void>;
}

export function imageLimits(env: NodeJS.ProcessEnv = process.env): ImageLimits {
  const read = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = parseMemory(raw);
    if (!n) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
    return n;
  };
  return { maxBytes: read('SPROCKET_IMAGE_MAX_BYTES', 32 * 1024 ** 3), maxEntries: read('SPROCKET_IMAGE_MAX_ENTRIES', 1_000_000) };
}

function run(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${argv.slice(0, 2).join(' ')} failed: ${out.trim().slice(-500)}`)),
    );
  });
}

/**
 * Image archives uploaded with gears, on this engine: each fetched once per digest (checked against
 * it on the way in), then `podman load`ed or unpacked into the charliecloud store. A small record
 * per executor and image says which digest is loaded, so a new upload under the same image name
 * replaces what an older one put there.
 */
export class ImageArchives {
  private readonly busy = new Map<string, Promise<void>>();

  constructor(
    readonly dir: string,
    private readonly source: ImageArchiveSource | undefined,
  ) {}

  private marker(executor: string, image: string): string {
    return path.join(this.dir, 'loaded', executor, chImageName(image));
  }

  private async loadedDigest(executor: string, image: string): Promise<string | undefined> {
    return fs.promises.readFile(this.marker(executor, image), 'utf8').catch(() => undefined);
  }

  private async fetch(gearId: string, digest: string): Promise<string> {
    const file = path.join(this.dir, 'archives', `${digest.replace(':', '-')}.tar`);
    if (fs.existsSync(file)) return file;
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    const partial = `${file}.partial-${process.pid}-${Date.now()}`;
    try {
      await this.source!.download(gearId, partial);
      const hash = createHash('sha256');
      await pipeline(
        fs.createReadStream(partial),
        new Transform({
          transform(c, _e, done) {
            hash.update(c);
            done();
          },
        }),
      );
      const got = `sha256:${hash.digest('hex')}`;
      if (got !== digest) throw new Error(`the image archive of gear ${gearId} arrived as ${got}, not ${digest}`);
      await fs.promises.rename(partial, file);
    } catch (err) {
      await fs.promises.rm(partial, { force: true });
      throw err;
    }
    return file;
  }

  /**
   * Makes the archive uploaded with gear `gearId` (if any) what `executor` has as `image`. Returns
   * false when the gear has no archive, true once the image is loaded (now or before).
   */
  async ensure(gearId: string | undefined, image: string, executor: 'podman' | CharliecloudExecutor): Promise<boolean> {
    if (!gearId || !this.source) return false;
    const info = await this.source.info(gearId);
    if (!info) return false;
    const name = executor === 'podman' ? 'podman' : 'charliecloud';
    // The record alone is not enough: an operator may have removed the image since.
    const present = () =>
      executor === 'podman'
        ? run(['podman', ...PODMAN_GLOBAL, 'image', 'exists', image]).then(
            () => true,
            () => false,
          )
        : executor.hasImage(image);
    if ((await this.loadedDigest(name, image)) === info.digest && (await present())) return true;
    const key = `${name} ${image} ${info.digest}`;
    let job = this.busy.get(key);
    if (!job) {
      job = (async () => {
        const archive = await this.fetch(gearId, info.digest);
        if (executor === 'podman') {
          const out = await run(['podman', ...PODMAN_GLOBAL, 'load', '-q', '-i', archive]);
          if (
            !(await run(['podman', ...PODMAN_GLOBAL, 'image', 'exists', image]).then(
              () => true,
              () => false,
            ))
          )
            throw new Error(`the image archive uploaded with the gear does not provide ${image} (podman load: ${out.trim()})`);
        } else {
          await fs.promises.mkdir(executor.imagesDir, { recursive: true, mode: 0o755 });
          await unpackImage(archive, image, executor.imageDir(image), imageLimits());
        }
        const marker = this.marker(name, image);
        await fs.promises.mkdir(path.dirname(marker), { recursive: true });
        await fs.promises.writeFile(`${marker}.tmp`, info.digest);
        await fs.promises.rename(`${marker}.tmp`, marker);
      })().finally(() => this.busy.delete(key));
      this.busy.set(key, job);
    }
    await job;
    return true;
  }
}
