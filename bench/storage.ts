import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectDatabase } from '@sprocket/server/db/connect';
import { sql } from 'kysely';
import { createDatabase, dropDatabase } from '../test-fixtures/pg-databases.js';
import { startS3 } from '../test-fixtures/s3.js';
import { type FilledProject, fillProject } from './fill.js';
import { measureLatencies } from './latency.js';
import { startServerProcess } from './server-process.js';
import { envInt, table } from './stats.js';
import { measureThroughput } from './throughput.js';

/**
 * `npm run bench:storage`: metadata latencies on a large project, then 1 GiB transfer throughput.
 * The project is written straight into the database; the server then runs as its own process
 * (`node --import tsx packages/server/src/main.ts`, as `npm start`) and is measured through HTTP.
 *
 *   BENCH_ACQUISITIONS (100000)   BENCH_FILES_PER_ACQ (10)   BENCH_ACQ_PER_SESSION (20)
 *   BENCH_SESSIONS_PER_SUBJECT (2) BENCH_RUNS (50)           BENCH_TRANSFER_MB (1024)   BENCH_REPEATS (3)
 *   BENCH_PARTS (latency,throughput)   BENCH_SETTLE_S (120): longest wait for the server's memory to settle
 *   BENCH_DIR: work directory (default: a new one under the system temp dir). When it already holds a
 *              filled project from an earlier run (bench-fill.json), that data is reused.
 *   BENCH_KEEP=1: keep the work directory (and PostgreSQL database) afterwards.
 *   DATABASE_URL=postgres://…: metadata in a new database on that server instead of SQLite.
 *   BENCH_STORAGE=s3: the throughput part runs again with file content on S3 (s3rver started in this
 *              process on loopback, test-fixtures/s3.ts) and prints its rates as ratios to the local store's.
 *   BENCH_BASELINE_SERVER=<dir>/main.js: an earlier compiled build of the server (a copy of
 *              packages/server/dist inside the checkout, e.g. .bench-baseline/server-dist): the
 *              latency part then runs it and this checkout's compiled build (packages/server/dist)
 *              in turn, twice each on the same data, and prints the p50 ratio per row.
 *   BENCH_PROBES=<text>,…: only the latency rows whose name contains one of them.
 */
const log = (line: string) => console.log(line);

const parts = new Set((process.env.BENCH_PARTS ?? 'latency,throughput').split(',').map((s) => s.trim()));
const keep = process.env.BENCH_KEEP === '1';
const givenDir = process.env.BENCH_DIR;
const workDir = givenDir ? path.resolve(givenDir) : fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-bench-'));
fs.mkdirSync(workDir, { recursive: true });
const manifestFile = path.join(workDir, 'bench-fill.json');

interface Manifest {
  databaseUrl?: string;
  data: FilledProject;
}

async function latencyPart(): Promise<void> {
  const dataDir = path.join(workDir, 'latency-data');
  let manifest: Manifest | undefined = fs.existsSync(manifestFile)
    ? (JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Manifest)
    : undefined;
  const wantPg = process.env.DATABASE_URL?.startsWith('postgres');
  if (manifest && Boolean(manifest.databaseUrl) !== Boolean(wantPg))
    throw new Error(`${workDir} holds a ${manifest.databaseUrl ? 'PostgreSQL' : 'SQLite'} fill; use another BENCH_DIR`);
  let createdDb: string | undefined;
  if (!manifest) {
    const opts = {
      acquisitions: envInt('BENCH_ACQUISITIONS', 100_000),
      filesPerAcquisition: envInt('BENCH_FILES_PER_ACQ', 10),
      acquisitionsPerSession: envInt('BENCH_ACQ_PER_SESSION', 20),
      sessionsPerSubject: envInt('BENCH_SESSIONS_PER_SUBJECT', 2),
    };
    const databaseUrl = wantPg ? await createDatabase(process.env.DATABASE_URL!, 'sprocket_bench') : undefined;
    createdDb = databaseUrl;
    log(
      `filling one project: ${opts.acquisitions} acquisitions × ${opts.filesPerAcquisition} files on ${databaseUrl ? `PostgreSQL (${databaseUrl})` : `SQLite (${dataDir})`}`,
    );
    const handle = await connectDatabase({ databaseUrl, dataDir });
    const data = await fillProject(handle.db, opts, log);
    // Autovacuum vacuums and analyses a freshly loaded PostgreSQL table within a minute or so, which
    // would overlap the first measurements; do it now, so they see a settled database.
    if (databaseUrl) await sql`vacuum analyze`.execute(handle.db);
    await handle.close();
    // Let the kernel write the loaded database out first: that flush would otherwise stall the first queries.
    spawnSync('sync');
    manifest = { databaseUrl, data };
    fs.writeFileSync(manifestFile, JSON.stringify(manifest));
  } else {
    log(`reusing the project filled in ${workDir}: ${manifest.data.counts.acquisitions} acquisitions, ${manifest.data.counts.files} files`);
  }

  const { DATABASE_URL: _ignored, ...env } = process.env;
  const serverEnv = manifest.databaseUrl ? { ...env, DATABASE_URL: manifest.databaseUrl } : env;
  const runs = envInt('BENCH_RUNS', 50);
  const baseline = process.env.BENCH_BASELINE_SERVER ? path.resolve(process.env.BENCH_BASELINE_SERVER) : undefined;
  const measure = async (label: string, opts: { compiled?: boolean; entry?: string }) => {
    const server = await startServerProcess(dataDir, serverEnv, opts);
    try {
      log(`\n${label}: latency through HTTP as site admin, ${runs} runs each (after 3 warm-up runs):`);
      return await measureLatencies(server.url, server.key, manifest.data, runs, log);
    } finally {
      await server.stop();
    }
  };
  if (!baseline) {
    await measure('sources (tsx)', {});
  } else {
    // Baseline and this build in turn, twice: a burst of load from elsewhere then hits both alike.
    const sums = new Map<string, { base: number; now: number }>();
    for (let round = 0; round < 2; round++) {
      for (const [which, opts] of [
        ['base', { compiled: true, entry: baseline }],
        ['now', { compiled: true }],
      ] as const) {
        for (const r of await measure(
          which === 'base' ? `baseline (${path.relative(process.cwd(), baseline)})` : 'this build (packages/server/dist)',
          opts,
        )) {
          const e = sums.get(r.name) ?? { base: 0, now: 0 };
          e[which] += r.p50;
          sums.set(r.name, e);
        }
      }
    }
    log('\np50 this build / baseline (mean of two runs each):');
    for (const [name, e] of sums)
      log(`  ${(e.now / e.base).toFixed(2)}  ${(e.base / 2).toFixed(1)} -> ${(e.now / 2).toFixed(1)} ms  ${name}`);
  }
  if (!keep && createdDb && !givenDir) await dropDatabase(createdDb);
}

async function throughputPart(): Promise<void> {
  const mib = envInt('BENCH_TRANSFER_MB', 1024);
  const repeats = Math.max(1, envInt('BENCH_REPEATS', 3));
  log(`\nthroughput of a ${mib} MiB file, same disk as the server's data directory (${workDir}):`);
  // File content never touches the metadata database, so this part always runs the server on SQLite.
  const { DATABASE_URL: _ignored, ...env } = process.env;
  const opts = { bytes: mib * 2 ** 20, repeats, settleMs: envInt('BENCH_SETTLE_S', 120) * 1000 };
  const local = await measureThroughput(workDir, { ...opts, env }, log);
  if (process.env.BENCH_STORAGE !== 's3') return;
  // A fresh server data directory, so the S3 run's database holds only its own rows.
  fs.rmSync(path.join(workDir, 'server-data'), { recursive: true, force: true });
  const s3 = await startS3('sprocket-bench');
  try {
    log(`
the same with SPROCKET_STORAGE=s3 (s3rver in this process at ${s3.endpoint}, sharing the CPUs with the server):`);
    const r = await measureThroughput(workDir, { ...opts, env: { ...env, ...s3.env('bench') } }, log);
    const f = (x: number) => x.toFixed(0);
    log(
      table(
        ['storage (same run)', 'upload MB/s', 'download MB/s', 'upload s3/local', 'download s3/local', 'peak RSS MB'],
        [
          ['local directory', f(local.uploadMBs), f(local.downloadMBs), '1.00', '1.00', f(local.rssPeakMB)],
          [
            's3 (s3rver)',
            f(r.uploadMBs),
            f(r.downloadMBs),
            (r.uploadMBs / local.uploadMBs).toFixed(2),
            (r.downloadMBs / local.downloadMBs).toFixed(2),
            f(r.rssPeakMB),
          ],
        ],
      ),
    );
  } finally {
    await s3.close();
  }
}

/** Figures from a shared machine mean little without knowing what else was running. */
function machine(when: string): void {
  const [l1, l5] = os.loadavg();
  log(
    `[${when}] ${os.availableParallelism()} CPUs, load average ${l1!.toFixed(1)} (1 min) ${l5!.toFixed(1)} (5 min), node ${process.version}`,
  );
}

try {
  machine('start');
  if (parts.has('latency')) await latencyPart();
  if (parts.has('throughput')) {
    machine('before throughput');
    await throughputPart();
  }
  machine('end');
} finally {
  if (!keep && !givenDir) fs.rmSync(workDir, { recursive: true, force: true });
  else if (!keep) fs.rmSync(path.join(workDir, 'server-data'), { recursive: true, force: true });
}
