import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ApiError } from '@sprocket/sdk';
import { ENGINE_ENTRY, SERVER_ENTRY } from '../../scripts/entries.js';
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
  /**
   * What every server process of this cluster logged at level error or above, restarts included:
   * an answer that went nowhere (a cut connection) shows only there.
   */
  serverLog: ServerErrorLog[];
  /** serverLog as problem lines, one per distinct message and first stack frame, with a count. */
  serverLogProblems(): string[];
  startEngines(key: string, count: number, env: NodeJS.ProcessEnv): void;
  /** kill -9 one engine (by slot) and start it again at once. */
  killEngine(slot: number): Promise<void>;
  /** kill -9 the server and start it again on the same port. */
  killServer(): Promise<void>;
  engineCount(): number;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Whether the build (`npm run build`) is there and newer than every source of the server and the
 * engine: a compiled cluster measured against stale sources would measure the wrong code.
 */
function assertBuilt(root: string): void {
  const newest = (dir: string): number =>
    fs
      .readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .reduce((t, e) => Math.max(t, fs.statSync(path.join(e.parentPath, e.name)).mtimeMs), 0);
  for (const [entry, src] of [
    [SERVER_ENTRY, 'packages/server/src'],
    [ENGINE_ENTRY, 'packages/engine/src'],
  ] as const) {
    if (!fs.existsSync(entry)) throw new Error(`${path.relative(root, entry)} is missing: run npm run build first`);
    if (newest(path.join(root, src)) > fs.statSync(entry).mtimeMs)
      throw new Error(`${src} changed after ${path.relative(root, entry)} was built: run npm run build first`);
  }
}

/**
 * `compiled`: the server's bundle and the engine's build, run as `npm start` runs them (what the
 * throughput parts measure: no TypeScript compiled at each start of a Slurm step); otherwise the
 * sources through tsx.
 */
export async function startCluster(
  root: string,
  dataDir: string,
  env: NodeJS.ProcessEnv,
  opts: { compiled?: boolean } = {},
): Promise<Cluster> {
  if (opts.compiled) assertBuilt(root);
  const serverLog: ServerErrorLog[] = [];
  let server = watchErrors(await startServerProcess(dataDir, env, { compiled: opts.compiled }), serverLog);
  const port = Number(new URL(server.url).port);
  const key = server.key;
  const engines: { slot: number; dir: string; env: NodeJS.ProcessEnv; key: string; proc: Spawned }[] = [];
  const serverErrors: string[] = [];
  let api = benchApi(server.url, key);

  const spawnEngine = (dir: string, engineKey: string, engineEnv: NodeJS.ProcessEnv): Spawned =>
    spawnCaptured(
      process.execPath,
      opts.compiled ? [ENGINE_ENTRY] : ['--conditions=@sprocket/source', '--import', 'tsx', path.join(root, 'packages/engine/src/main.ts')],
      {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          SPROCKET_API_KEY: engineKey,
          SPROCKET_ENGINE_DIR: dir,
          SPROCKET_LOG_LEVEL: 'warn',
          ...engineEnv,
        },
      },
    );

  const cluster: Cluster = {
    get server() {
      return server;
    },
    url: server.url,
    key,
    serverErrors,
    serverLog,
    serverLogProblems() {
      const seen = new Map<string, number>();
      for (const entry of serverLog) {
        const frame = String(entry.err?.stack ?? '')
          .split('\n')
          .find((l) => l.trim().startsWith('at '))
          ?.trim();
        const what = `${entry.msg}: ${entry.err?.type ?? ''} ${entry.err?.message ?? ''}${frame ? ` (${frame})` : ''}`;
        seen.set(what, (seen.get(what) ?? 0) + 1);
      }
      return [...seen].map(([what, n]) => `the server logged ${n}×: ${what}`);
    },
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
      server = watchErrors(await startServerProcess(dataDir, env, { port, compiled: opts.compiled }), serverLog);
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

/** What the server logs at level error and above (pino's JSON lines): the stack behind a 500, say. */
export interface ServerErrorLog {
  level: number;
  msg?: string;
  err?: { type?: string; message?: string; stack?: string };
}

/** Collects the entries a server process logs at level error or above (pino's JSON lines on stdout). */
function watchErrors(server: ServerProcess, into: ServerErrorLog[]): ServerProcess {
  let rest = '';
  server.child.stdout?.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      let entry: ServerErrorLog;
      try {
        entry = JSON.parse(line);
      } catch {
        continue; // not a log entry (start-up lines are plain text)
      }
      if (entry.level >= 50) into.push(entry);
    }
  });
  return server;
}
