import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ApiError } from '@sprocket/sdk';
import { type Spawned, spawnCaptured } from '../../test-fixtures/processes.js';
import { benchApi } from '../api.js';
import { type ServerProcess, startServerProcess } from '../server-process.js';

/**
 * A server and its engines as separate processes that the fault parts kill with -9 and start again
 * where they were: the server on the same port, data directory and database, each engine in its own
 * work folder with the same key. Calls made through `call` ride out the gaps the kills leave.
 */
export interface Cluster {
  server: ServerProcess;
  url: string;
  key: string;
  /** An API call that waits through a server restart; 5xx answers are recorded in `serverErrors`. */
  call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', p: string, body?: unknown): Promise<any>;
  serverErrors: string[];
  startEngines(key: string, count: number, env: NodeJS.ProcessEnv): void;
  /** kill -9 one engine (by slot) and start it again at once. */
  killEngine(slot: number): Promise<void>;
  /** kill -9 the server and start it again on the same port. */
  killServer(): Promise<void>;
  engineCount(): number;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startCluster(root: string, dataDir: string, env: NodeJS.ProcessEnv): Promise<Cluster> {
  let server = await startServerProcess(dataDir, env);
  const port = Number(new URL(server.url).port);
  const key = server.key;
  const engines: { slot: number; dir: string; env: NodeJS.ProcessEnv; key: string; proc: Spawned }[] = [];
  const serverErrors: string[] = [];
  let api = benchApi(server.url, key);

  const spawnEngine = (dir: string, engineKey: string, engineEnv: NodeJS.ProcessEnv): Spawned =>
    spawnCaptured(process.execPath, ['--conditions=@sprocket/source', '--import', 'tsx', path.join(root, 'packages/engine/src/main.ts')], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        SPROCKET_API_KEY: engineKey,
        SPROCKET_ENGINE_DIR: dir,
        SPROCKET_LOG_LEVEL: 'warn',
        ...engineEnv,
      },
    });

  const cluster: Cluster = {
    get server() {
      return server;
    },
    url: server.url,
    key,
    serverErrors,
    async call(method, p, body) {
      for (let attempt = 0; ; attempt++) {
        try {
          return await api(method, p, body);
        } catch (e) {
          if (!(e instanceof ApiError)) throw e;
          if (e.status >= 500) serverErrors.push(`${method} ${p}: HTTP ${e.status} ${e.message}`);
          // Status 0: no answer, the server is down or restarting; wait for it (two minutes at most).
          if ((e.status === 0 || e.status >= 500) && attempt < 600) {
            await sleep(200);
            continue;
          }
          throw e;
        }
      }
    },
    startEngines(engineKey, count, engineEnv) {
      for (let slot = 0; slot < count; slot++) {
        const dir = path.join(dataDir, `engine-${slot}`);
        fs.mkdirSync(dir, { recursive: true });
        engines.push({ slot, dir, env: engineEnv, key: engineKey, proc: spawnEngine(dir, engineKey, engineEnv) });
      }
    },
    async killEngine(slot) {
      const e = engines[slot]!;
      e.proc.proc.kill('SIGKILL');
      await e.proc.exited;
      e.proc = spawnEngine(e.dir, e.key, e.env);
    },
    async killServer() {
      server.child.kill('SIGKILL');
      await new Promise((r) =>
        server.child.exitCode !== null || server.child.signalCode !== null ? r(null) : server.child.once('exit', r),
      );
      server = await startServerProcess(dataDir, env, { port });
      api = benchApi(server.url, key);
    },
    engineCount: () => engines.length,
    async stop() {
      await Promise.all(engines.map((e) => e.proc.stop()));
      await server.stop();
    },
  };
  return cluster;
}

/** A gear folder packed as the tar.gz `POST /gears` takes, uploaded; returns the gear id. */
export async function uploadGearDir(cluster: Cluster, dir: string, name: string): Promise<string> {
  const tar = spawnSync('tar', ['-czf', '-', '-C', dir, '.']).stdout;
  const form = new FormData();
  form.append('file', new Blob([tar]), `${name}.tar.gz`);
  const gear = await cluster.call('POST', '/gears', form);
  return gear._id ?? gear.id;
}

/** Every job the server holds, paged by id. */
export async function allJobs(cluster: Cluster): Promise<any[]> {
  const jobs: any[] = [];
  let after = '';
  for (;;) {
    const page: any[] = await cluster.call('GET', `/jobs?limit=1000&after_id=${after}`);
    jobs.push(...page);
    if (page.length < 1000) return jobs;
    after = page[page.length - 1]._id ?? page[page.length - 1].id;
  }
}
