import type { Executor, RunIO, RunResult, RunSpec } from './executor.js';
import { isRoot } from './limits.js';
import { handOver, runConfined } from './spawn.js';

/** The operator's explicit consent to unsandboxed gears running as root. */
export const AS_ROOT_SETTING = 'SPROCKET_PROCESS_EXECUTOR_AS_ROOT';

export function processAsRootAllowed(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['1', 'true', 'yes'].includes((env[AS_ROOT_SETTING] ?? '').toLowerCase());
}

/**
 * No sandbox: the gear runs on the host, in the job directory, as the engine's user. For machines
 * without bubblewrap. The job directory stands in for /flywheel/v0 only through the working
 * directory and $FLYWHEEL, so gears that open absolute /flywheel/v0 paths (including the `location.path`
 * values in config.json) need a sandboxing executor.
 *
 * A gear run this way can do whatever the engine's user can, so an engine running as root refuses
 * it unless the operator set SPROCKET_PROCESS_EXECUTOR_AS_ROOT=true (then a manifest's uid/gid is
 * still honoured). The site's process and file-size limits apply either way.
 */
export class ProcessExecutor implements Executor {
  readonly name = 'process';

  constructor(private readonly opts: { allowRoot?: boolean } = {}) {}

  async available(): Promise<boolean> {
    return true;
  }

  async run(spec: RunSpec, io: RunIO, signal: AbortSignal): Promise<RunResult> {
    if (isRoot() && !(this.opts.allowRoot ?? processAsRootAllowed())) {
      throw new Error(
        `the process executor runs gears unsandboxed, and this engine runs as root: it refuses. Use the bwrap executor (apt-get install bubblewrap), run the engine as an unprivileged user, or set ${AS_ROOT_SETTING}=true to accept gears running as root`,
      );
    }
    const env = { ...spec.env, FLYWHEEL: spec.jobDir };
    const owner = isRoot() && spec.uid !== undefined ? { uid: spec.uid, gid: spec.gid ?? spec.uid } : undefined;
    await handOver(spec.jobDir, owner);
    // The user switch comes last, after the engine's root has put the gear in its cgroups.
    const command = owner
      ? ['setpriv', `--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--clear-groups', '--', ...spec.command]
      : spec.command;
    return runConfined(spec, command, { cwd: spec.jobDir, env }, io, signal);
  }
}
