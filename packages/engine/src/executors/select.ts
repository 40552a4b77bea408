import fs from 'node:fs';
import path from 'node:path';
import { BwrapExecutor } from './bwrap.js';
import type { Executor, RunSpec } from './executor.js';
import { isRoot } from './limits.js';
import { PodmanExecutor } from './podman.js';
import { AS_ROOT_SETTING, ProcessExecutor, processAsRootAllowed } from './process.js';
import { slurmUnusable } from './slurm.js';

export const EXECUTOR_CHOICES = ['auto', 'bwrap', 'process', 'podman', 'slurm'] as const;
export type ExecutorChoice = (typeof EXECUTOR_CHOICES)[number];

export interface Selection {
  executor: Executor;
  /** Why this one, when it is not the obvious one: logged to the job so users see it. */
  note?: string;
}

/**
 * Picks the executor for each job. `auto`: podman when the gear names an image podman has locally,
 * else bubblewrap when it works on this machine, else no sandbox. A fixed choice is used for every
 * job, and a job it cannot run fails with the reason.
 */
export class ExecutorSelector {
  readonly process = new ProcessExecutor();
  readonly bwrap = new BwrapExecutor();
  readonly podman = new PodmanExecutor();

  constructor(readonly choice: ExecutorChoice = 'auto') {}

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

  /**
   * What the engine says once at start instead of in every job's log: in auto mode without a usable
   * podman, gears naming a container image run their gear files on the host system.
   */
  async startNotes(): Promise<string[]> {
    if (this.choice !== 'auto' || (await this.podman.available())) return [];
    return [
      `podman (with runc) is not installed here: gears naming a container image run their gear files with the ${await this.defaultName()} executor instead`,
    ];
  }

  async pick(spec: Pick<RunSpec, 'image'> & Partial<Pick<RunSpec, 'jobDir' | 'command'>>): Promise<Selection> {
    // In slurm mode the node-side step picks, with its own selector (SPROCKET_SLURM_EXECUTOR).
    if (this.choice === 'slurm') throw new Error('SPROCKET_EXECUTOR=slurm runs gears on the cluster, not on the engine host');
    if (this.choice === 'podman') {
      if (!spec.image) throw new Error('SPROCKET_EXECUTOR=podman, but the gear names no container image');
      if (!(await this.podman.hasImage(spec.image)))
        throw new Error(`container image ${spec.image} is not present locally (podman image exists)`);
      return { executor: this.podman };
    }
    if (this.choice !== 'auto') return { executor: this[this.choice] };
    let note: string | undefined;
    // Without podman at all the engine said so once at start (startNotes); a podman lacking this
    // gear's image, or a gear whose program lives only in its image, is worth saying in the job's log.
    if (spec.image && (await this.podman.available())) {
      if (await this.podman.hasImage(spec.image)) return { executor: this.podman };
      note = `container image ${spec.image} is not available to podman here; running the gear files on the host system`;
    } else if (spec.image) {
      const missing = missingEntryPoint(spec);
      if (missing)
        note = `the gear's ${missing} is not among its files (it lives in container image ${spec.image}) and podman is not installed here: the gear is run on the host system and will likely fail`;
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
