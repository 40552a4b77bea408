import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnCaptured } from '../../../test-fixtures/processes.js';
import type { Api } from '../../server/test/helpers.js';
import { eventually, packGear, tempDir } from './helpers.js';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.ts');

/** A real engine process (`npm run engine`), as a test starts and stops it. */
export interface EngineProcess {
  proc: ChildProcess;
  dir: string;
  /** What it printed on stderr so far, for failure messages. */
  output(): string;
  exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** kill -9. */
  kill9(): Promise<void>;
}

export function startEngine(
  key: string,
  opts: {
    concurrency?: number;
    executor?: string;
    env?: Record<string, string>;
    /** Runs the engine through another command, e.g. `ip netns exec` (which execs, keeping the pid). */
    wrap?: (argv: string[]) => string[];
  } = {},
): EngineProcess {
  const dir = tempDir('sprocket-engine-dir-');
  const [cmd, ...args] = (opts.wrap ?? ((a) => a))([process.execPath, '--import', 'tsx', MAIN]);
  const child = spawnCaptured(cmd!, args, {
    env: {
      PATH: process.env.PATH,
      // The source condition vitest.config.ts sets, so the engine runs the sources it is tested on.
      NODE_OPTIONS: process.env.NODE_OPTIONS,
      SPROCKET_API_KEY: key,
      SPROCKET_ENGINE_DIR: dir,
      SPROCKET_ENGINE_CONCURRENCY: String(opts.concurrency ?? 2),
      SPROCKET_EXECUTOR: opts.executor ?? 'auto',
      SPROCKET_LOG_LEVEL: 'warn',
      SPROCKET_ENGINE_SHUTDOWN_GRACE: '5',
      // Tests run as root in CI; the unsandboxed executor then needs the operator's explicit yes.
      ...(opts.executor === 'process' ? { SPROCKET_PROCESS_EXECUTOR_AS_ROOT: 'true' } : {}),
      ...opts.env,
    },
  });
  const { proc, exited } = child;
  return {
    proc,
    dir,
    exited,
    output: child.output,
    stop: child.stop,
    async kill9() {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

const TERMINAL = ['complete', 'failed', 'cancelled'];

/** Polls a job until it reaches one of the states (terminal ones by default) and returns it. */
export async function waitForJob(api: Api, id: string, states: string[] = TERMINAL, timeoutMs = 40_000): Promise<any> {
  let job: any;
  const ok = await eventually(
    async () => {
      const r = await api.get(`/jobs/${id}`);
      job = r.body;
      return states.includes(job?.state);
    },
    timeoutMs,
    50,
  );
  if (!ok) throw new Error(`job ${id} did not reach ${states.join('|')} (last: ${JSON.stringify(job?.state)})`);
  return job;
}

/** Uploads a test gear (a tar.gz of its folder, multipart field `file`) and returns its id. */
export async function uploadGear(api: Api, gear: string): Promise<string> {
  const r = await api.upload('/gears', [{ name: `${gear}.tar.gz`, content: new Blob([packGear(gear)]) }]);
  if (r.status !== 200) throw new Error(`gear upload failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body._id ?? r.body.id;
}

export async function addJob(api: Api, body: Record<string, unknown>): Promise<string> {
  const r = await api.post('/jobs/add', body);
  if (r.status !== 200) throw new Error(`jobs/add failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body._id ?? r.body.id;
}

/** A new engine key through the API (`POST /devices`, site admin). */
export async function engineKey(api: Api, name = 'test engine'): Promise<string> {
  const r = await api.post('/devices', { name });
  if (r.status !== 200) throw new Error(`POST /devices failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.key;
}

export async function jobLog(api: Api, id: string): Promise<{ fd: number; msg: string }[]> {
  return (await api.get(`/jobs/${id}/logs`)).body.logs;
}
