import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { serverArgs } from '../scripts/entries.js';
import { freePort } from '../test-fixtures/processes.js';

/**
 * The API server as its own process, started the way `npm start` starts it, so what the benchmark
 * measures is the server's time and memory, not the client's.
 */
export interface ServerProcess {
  child: ChildProcess;
  url: string;
  key: string;
  stop(): Promise<void>;
}

/**
 * `compiled`: the server's bundle (`npm run build`) with plain node and the flags `npm start` gives it
 * (scripts/entries.ts), or `entry`, another build's main.js (a baseline, with the same flags); otherwise the sources through tsx, as `npm run server` does.
 * `port`: listen there instead of on a new free port.
 */
export async function startServerProcess(
  dataDir: string,
  env: NodeJS.ProcessEnv,
  opts: { compiled?: boolean; entry?: string; port?: number } = {},
): Promise<ServerProcess> {
  // A given port: a restarted server comes back where its engines and clients look for it.
  const port = opts.port ?? (await freePort());
  // node --import tsx is what `npx tsx` runs, minus the wrapper processes, so the pid sampled is the server's.
  const argv = opts.compiled ? serverArgs(opts.entry) : ['--conditions=@sprocket/source', '--import', 'tsx', 'packages/server/src/main.ts'];
  const child = spawn(process.execPath, argv, {
    env: { ...env, SPROCKET_DATA_DIR: dataDir, SPROCKET_PORT: String(port), SPROCKET_HOST: '127.0.0.1', SPROCKET_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      if (output.includes('listening at')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
    setTimeout(() => reject(new Error(`server did not start in 60 s:\n${output}`)), 60_000).unref();
  });
  const key = fs.readFileSync(path.join(dataDir, 'admin-api-key'), 'utf8').trim();
  return {
    child,
    url: `http://127.0.0.1:${port}/api`,
    key,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
