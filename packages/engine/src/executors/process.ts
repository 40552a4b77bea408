import type { Executor, RunIO, RunResult, RunSpec } from './executor.js';
import { handOver, runProcessGroup } from './spawn.js';

/**
 * No sandbox: the gear runs on the host, in the job directory, as the engine's user. For machines
 * without bubblewrap. The job directory stands in for /flywheel/v0 only through the working
 * directory and $FLYWHEEL, so gears that open absolute /flywheel/v0 paths (including the `location.path`
 * values in config.json) need a sandboxing executor.
 */
export class ProcessExecutor implements Executor {
  readonly name = 'process';

  async available(): Promise<boolean> {
    return true;
  }

  async run(spec: RunSpec, io: RunIO, signal: AbortSignal): Promise<RunResult> {
    const env = { ...spec.env, FLYWHEEL: spec.jobDir };
    return runProcessGroup(spec.command, { cwd: spec.jobDir, env, ...(await handOver(spec)) }, io, signal);
  }
}
