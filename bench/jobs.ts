/**
 * `npm run bench:jobs`: no-op jobs through the real server and one real engine process.
 *
 * 1. Throughput: BENCH_JOBS (2,000) jobs queued as fast as the API takes them while the engine runs;
 *    jobs per second from the first queued to the last finished, and queued → running latency.
 * 2. Dispatch: BENCH_DISPATCH_JOBS (200) jobs queued one at a time to an idle engine, each after
 *    the previous one finished: queued → running is then the engine's wake-up path alone.
 * 3. Baseline: the same command (`bash -c true`, in the same sandbox) spawned directly as many
 *    times, with the same concurrency; the ratio says what the platform adds per job.
 *
 * BENCH_ENGINE_CONCURRENCY (default: cores) and SPROCKET_EXECUTOR (auto) pass through;
 * DATABASE_URL=postgres://… runs on a new database on that server (SQLite otherwise).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bwrapArgs, ExecutorSelector } from '@sprocket/engine';
import { loadConfig, startServer } from '@sprocket/server';
import { createDatabase, dropDatabase } from '../test-fixtures/pg-databases.js';
import { benchApi } from './api.js';
import { envInt, fmtMs, percentile, table } from './stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const N = envInt('BENCH_JOBS', 2000);
const DISPATCH = envInt('BENCH_DISPATCH_JOBS', 200);
const CONCURRENCY = envInt('BENCH_ENGINE_CONCURRENCY', os.availableParallelism());
const EXECUTOR = process.env.SPROCKET_EXECUTOR ?? 'auto';

const databaseUrl = process.env.DATABASE_URL?.startsWith('postgres')
  ? await createDatabase(process.env.DATABASE_URL, 'sprocket_bench_jobs')
  : undefined;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-bench-jobs-'));
const server = await startServer(
  loadConfig({ SPROCKET_DATA_DIR: dataDir, SPROCKET_PORT: '0', ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) }),
);
const adminKey = server.adminKey!;

const api = benchApi(server.url, adminKey);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Set-up: a project to write into, the no-op gear, an engine key.
await api('POST', '/groups', { _id: 'bench', label: 'bench' });
const project = (await api('POST', '/projects', { group: 'bench', label: 'Jobs' }))._id;
const gearTar = spawnSync('tar', ['-czf', '-', '-C', path.join(root, 'packages/engine/test/gears/noop'), '.']).stdout;
const form = new FormData();
form.append('file', new Blob([gearTar]), 'noop.tar.gz');
const gear = await api('POST', '/gears', form);
const engineKey = (await api('POST', '/devices', { name: 'bench engine' })).key;
const job = { gear_id: gear._id ?? gear.id, destination: { type: 'project', id: project } };

const engine = spawn(
  process.execPath,
  ['--conditions=@sprocket/source', '--import', 'tsx', path.join(root, 'packages/engine/src/main.ts')],
  {
    env: {
      ...process.env,
      SPROCKET_API_KEY: engineKey,
      SPROCKET_ENGINE_CONCURRENCY: String(CONCURRENCY),
      SPROCKET_EXECUTOR: EXECUTOR,
      SPROCKET_ENGINE_DIR: path.join(dataDir, 'engine'),
      SPROCKET_LOG_LEVEL: 'warn',
    },
    stdio: 'inherit',
  },
);

async function waitFinished(ids: string[]): Promise<any[]> {
  const docs: any[] = [];
  for (const id of ids) {
    for (;;) {
      const d = await api('GET', `/jobs/${id}`);
      if (['complete', 'failed', 'cancelled'].includes(d.state)) {
        docs.push(d);
        break;
      }
      await sleep(20);
    }
  }
  return docs;
}

const dispatchMs = (d: any) => Date.parse(d.transitions.running) - Date.parse(d.created);

// Warm-up: the engine is up and has the gear cached.
await waitFinished([(await api('POST', '/jobs/add', job))._id]);

// 1. Throughput.
const t0 = Date.now();
const ids: string[] = [];
for (let i = 0; i < N; i += 20) {
  const batch = Array.from({ length: Math.min(20, N - i) }, () => api('POST', '/jobs/add', job).then((r) => r._id as string));
  ids.push(...(await Promise.all(batch)));
}
const queuedMs = Date.now() - t0;
const docs = await waitFinished(ids);
const lastDone = Math.max(...docs.map((d) => Date.parse(d.transitions.complete ?? d.transitions.failed)));
const firstQueued = Math.min(...docs.map((d) => Date.parse(d.created)));
const throughputSeconds = (lastDone - firstQueued) / 1000;
const failed = docs.filter((d) => d.state !== 'complete').length;
const backlog = docs.map(dispatchMs).sort((a, b) => a - b);

// 2. Dispatch to an idle engine.
const single: number[] = [];
for (let i = 0; i < DISPATCH; i++) {
  const [d] = await waitFinished([(await api('POST', '/jobs/add', job))._id]);
  single.push(dispatchMs(d));
}
single.sort((a, b) => a - b);

engine.kill('SIGTERM');
await new Promise((r) => engine.once('exit', r));
await server.close();
if (databaseUrl) await dropDatabase(databaseUrl);

// 3. The same command spawned directly, in the sandbox the engine used.
const executorName = await new ExecutorSelector(EXECUTOR as 'auto').defaultName();
const jobDir = path.join(dataDir, 'direct');
fs.mkdirSync(path.join(jobDir, 'output'), { recursive: true });
const spec = {
  jobDir,
  jobId: 'direct',
  command: ['bash', '-c', 'true'],
  env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
  networking: false,
  resources: {},
  image: null,
};
const argv = executorName === 'bwrap' ? bwrapArgs(spec) : spec.command;
const d0 = Date.now();
let next = 0;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next++ < N) await new Promise((r) => spawn(argv[0]!, argv.slice(1), { cwd: jobDir, stdio: 'ignore' }).once('exit', r));
  }),
);
const directSeconds = (Date.now() - d0) / 1000;

fs.rmSync(dataDir, { recursive: true, force: true });
console.log(
  `\n${N} no-op jobs, one engine (${CONCURRENCY} at once, executor ${executorName}), ${process.env.DATABASE_URL ? 'PostgreSQL' : 'SQLite'}, ${os.availableParallelism()} cores`,
);
console.log(
  table(
    ['measure', 'value'],
    [
      ['queued via POST /jobs/add (s)', (queuedMs / 1000).toFixed(1)],
      ['jobs per second (first queued → last finished)', (N / throughputSeconds).toFixed(1)],
      ['failed jobs', failed],
      ['queued → running p50 / p95 under load (ms)', `${fmtMs(percentile(backlog, 50))} / ${fmtMs(percentile(backlog, 95))}`],
      [
        `queued → running p50 / p95, idle engine, ${DISPATCH} jobs (ms)`,
        `${fmtMs(percentile(single, 50))} / ${fmtMs(percentile(single, 95))}`,
      ],
      [`same command spawned directly ${N}× (s)`, directSeconds.toFixed(1)],
      ['platform time / direct time', (throughputSeconds / directSeconds).toFixed(1)],
    ],
  ),
);
process.exit(0);
