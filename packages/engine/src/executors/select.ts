import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BwrapExecutor } from './bwrap.js';
import { CharliecloudExecutor, chImagesDir } from './charliecloud.js';
import type { ExecutorChoice } from './choices.js';
import type { Executor, RunSpec } from './executor.js';
import { ImageArchives } from './images.js';
import { isRoot } from './limits.js';
import { PodmanExecutor } from './podman.js';
import { AS_ROOT_SETTING, ProcessExecutor, processAsRootAllowed } from './process.js';
import { slurmUnusable } from './slurm.js';

export interface Selection {
  executor: Executor;
  /** Why this one, when it is not the obvious one: logged to the job so users see it. */
  note?: string;
}

/** What to do when a gear's image is nowhere: said in the failure, so the user knows the way out. */
const IMAGE_HELP =
  'upload it with the gear (sprocket gear upload --image <archive from podman save or docker save>), or load it on this engine (podman load -i <archive>, or unpack it into the charliecloud image store, SPROCKET_CH_IMAGES)';

/**
 * Picks the executor for each job. `auto`: for a gear naming a container image, podman when it has
 * the image (loading the archive uploaded with the gear first), else charliecloud when it has it;
 * without the image the gear's own files run in bubblewrap (else no sandbox), unless its program
 * lives only in the image: then the job fails, naming the image. A fixed choice is used for every
 * job, and a job it cannot run fails with the reason.
 */
export class ExecutorSelector {
  readonly process = new ProcessExecutor();
  readonly bwrap = new BwrapExecutor();
  readonly podman = new PodmanExecutor();
  readonly charliecloud: CharliecloudExecutor;
  readonly archives: ImageArchives;

  constructor(
    readonly choice: ExecutorChoice = 'auto',
    opts: { workDir?: string; archives?: ImageArchives } = {},
  ) {
    const workDir = opts.workDir ?? path.join(os.tmpdir(), 'sprocket-engine');
    this.charliecloud = new CharliecloudExecutor(chImagesDir(workDir));
    this.archives = opts.archives ?? new ImageArchives(path.join(workDir, 'images'), undefined);
  }

  /** Fails fast when a fixed choice cannot work here, rather than failing every job later. */
  async check(): Promise<void> {
    if (this.choice === 'auto') return;
    if (this.choice === 'slurm') {
      const why = await slurmUnusable();
      if (why) throw new Error(`SPROCKET_EXECUTOR=slurm, but ${why}`);
      return;
    }
    const executor = this[this.choice];
    if (this.choice === 'process' && isRoot() && !processAsRootAllowed()) {
      throw new Error(
        `SPROCKET_EXECUTOR=process runs gears unsandboxed, and this engine runs as root: set ${AS_ROOT_SETTING}=true to accept that, or use bwrap`,
      );
    }
    if (!(await executor.available())) {
      throw new Error(`SPROCKET_EXECUTOR=${this.choice}, but ${this.choice} is not usable on this machine`);
    }
  }

  /** The executor auto mode uses for gears without an image, for the engine's start-up message. */
  async defaultName(): Promise<string> {
    if (this.choice !== 'auto') return this.choice;
    return (await this.bwrap.available()) ? 'bwrap' : 'process';
  }

  /** What the engine says once at start instead of in every job's log: which image executors it lacks. */
  async startNotes(): Promise<string[]> {
    if (this.choice !== 'auto') return [];
    const podman = await this.podman.available();
    const ch = await this.charliecloud.available();
    if (podman && ch) return [];
    if (podman || ch)
      return [
        `${podman ? 'charliecloud (ch-run)' : 'podman (with runc)'} is not installed here: gears naming a container image run with ${podman ? 'podman' : 'charliecloud'}`,
      ];
    return [
      `neither podman (with runc) nor charliecloud (ch-run) is installed here: gears naming a container image run their gear files with the ${await this.defaultName()} executor, and those whose program lives only in the image fail`,
    ];
  }

  /** Whether the container executor has the image, after loading the archive uploaded with the gear. */
  private async hasImage(executor: PodmanExecutor | CharliecloudExecutor, spec: Pick<RunSpec, 'image' | 'gearId'>): Promise<boolean> {
    const image = spec.image!;
    if (await this.archives.ensure(spec.gearId, image, executor instanceof PodmanExecutor ? 'podman' : executor)) return true;
    return executor.hasImage(image);
  }

  async pick(spec: Pick<RunSpec, 'image'> & Partial<Pick<RunSpec, 'jobDir' | 'command' | 'gearId'>>): Promise<Selection> {
    // In slurm mode the node-side step picks, with its own selector (SPROCKET_SLURM_EXECUTOR).
    if (this.choice === 'slurm') throw new Error('SPROCKET_EXECUTOR=slurm runs gears on the cluster, not on the engine host');
    if (this.choice === 'podman' || this.choice === 'charliecloud') {
      const executor = this[this.choice];
      if (!spec.image) throw new Error(`SPROCKET_EXECUTOR=${this.choice}, but the gear names no container image`);
      if (!(await this.hasImage(executor, spec)))
        throw new Error(`container image ${spec.image} is not available to ${this.choice} on this engine: ${IMAGE_HELP}`);
      return { executor };
    }
    if (this.choice !== 'auto') return { executor: this[this.choice] };
    let note: string | undefined;
    if (spec.image) {
      const tried: string[] = [];
      for (const executor of [this.podman, this.charliecloud]) {
        if (!(await executor.available())) continue;
        tried.push(executor.name);
        if (await this.hasImage(executor, spec)) return { executor };
      }
      const where = tried.length ? `to ${tried.join(' or ')} ` : '(neither podman nor charliecloud is installed) ';
      const missing = missingEntryPoint(spec);
      if (missing)
        throw new Error(
          `the gear's program ${missing} lives only in its container image ${spec.image}, which is not available ${where}on this engine: ${IMAGE_HELP}`,
        );
      note = `container image ${spec.image} is not available ${where}on this engine; the gear's own files hold its program, so they run on the host system in the ${(await this.bwrap.available()) ? 'bwrap sandbox' : 'process executor'}`;
    }
    if (await this.bwrap.available()) return { executor: this.bwrap, note };
    return { executor: this.process, note };
  }
}

/**
 * The gear's program when the command names one in the gear folder (`./run`, `bash run.sh` …) and
 * the folder lacks it; undefined when it is there or the command names none.
 */
export function missingEntryPoint(spec: Partial<Pick<RunSpec, 'jobDir' | 'command'>>): string | undefined {
  if (!spec.jobDir || !spec.command?.length) return undefined;
  const script = spec.command[0] === 'bash' && spec.command[1] === '-c' ? (spec.command[2] ?? '') : spec.command.join(' ');
  const words = script.trim().split(/\s+/);
  const first = words[0] === 'bash' || words[0] === 'sh' || words[0] === 'python' || words[0] === 'python3' ? words[1] : words[0];
  if (!first || first.startsWith('/') || !(first.startsWith('./') || first.includes('.') || first === 'run')) return undefined;
  return fs.existsSync(path.join(spec.jobDir, first)) ? undefined : first;
}
