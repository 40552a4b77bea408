import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfig, startServer } from '@sprocket/server';
import { buildGears } from '../scripts/build-gears.js';
import { installShippedGears } from '../scripts/install-gears.js';
import { type RealSeries, realSeries } from '../test-fixtures/real-series.js';
import { zipFiles } from '../test-fixtures/zip.js';
import { benchApi } from './api.js';
import { dcm2niixByHand } from './dcm2niix-by-hand.js';
import { envInt, median, table } from './stats.js';

/**
 * dcm2niix through Sprocket against dcm2niix run by hand on the same series, wall time.
 *
 * Through Sprocket, one run is what a user waits for: the series uploaded as a .dicom.zip into an
 * acquisition, a dcm2niix job queued on it, and the job complete, i.e. the engine has fetched the
 * input, unpacked it, run the shipped gear (Debian's dcm2niix) in its sandbox and saved the
 * outputs on the acquisition. By hand is `dcm2niix` with the gear's default flags on the unpacked
 * files; the real series of test-fixtures/real-series.ts and one 256×256×96 series from
 * bench/generate-dicom.ts. The table splits a run into its steps (the engine's profile of the job for the part it
 * runs). The server runs in this process, one engine (one job at a time) beside it. Each series
 * is converted BENCH_DCM2NIIX_RUNS (5) times each way after a warm-up; medians are compared.
 *
 * SPROCKET_EXECUTOR (auto) and DATABASE_URL (SQLite otherwise) pass through.
 */
export interface Dcm2niixBenchRow {
  series: string;
  files: number;
  mb: number;
  byHandMs: number;
  sprocketMs: number;
  uploadMs: number;
  queuedMs: number;
  /** The engine's own profile of the job: input fetched and unpacked, gear run, outputs uploaded. */
  prepareMs: number;
  gearMs: number;
  saveMs: number;
  ratio: number;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** One series of bench/generate-dicom.ts (the scale-run generator) at a clinical T1 size. */
async function syntheticSeries(out: string): Promise<RealSeries> {
  const [matrix, slices] = [256, 96];
  const gen = spawn(
    process.execPath,
    [
      '--conditions=@sprocket/source',
      '--import',
      'tsx',
      path.join(ROOT, 'bench', 'generate-dicom.ts'),
      out,
      '--subjects',
      '1',
      '--sessions',
      '1',
      '--series',
      '1',
      '--slices',
      String(slices),
      '--matrix',
      String(matrix),
    ],
    {
      stdio: 'ignore',
    },
  );
  if ((await exited(gen)) !== 0) throw new Error('bench/generate-dicom.ts failed');
  const dir = path.join(out, 'sub-001', 'ses-1');
  return {
    subject: 'synthetic',
    what: 'synthetic T1w (generate-dicom)',
    dir: path.join(dir, fs.readdirSync(dir)[0]!),
    dims: [matrix, matrix, slices],
  };
}

async function byHand(dir: string, out: string): Promise<number> {
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  const t = performance.now();
  const p = spawn('dcm2niix', dcm2niixByHand(dir, out), { stdio: 'ignore' });
  const code = await exited(p);
  if (code !== 0) throw new Error(`dcm2niix by hand on ${dir} exited ${code}`);
  return performance.now() - t;
}

export async function benchDcm2niix(log: (line: string) => void = console.log): Promise<Dcm2niixBenchRow[]> {
  const runs = Math.max(1, envInt('BENCH_DCM2NIIX_RUNS', 5));
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-bench-dcm2niix-'));
  const found = realSeries(path.join(scratch, 'dicom'));
  if (found.skip !== undefined) {
    log(`dcm2niix: real series unavailable (${found.skip}); skipped`);
    return [];
  }
  await buildGears(['dcm2niix']);
  const server = await startServer(
    loadConfig({
      SPROCKET_DATA_DIR: path.join(scratch, 'data'),
      SPROCKET_PORT: '0',
      ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    }),
  );
  const key = server.adminKey!;
  const api = benchApi(server.url, key);

  let engine: ChildProcess | undefined;
  try {
    const installed = await installShippedGears({ apiKey: key, only: ['dcm2niix'] });
    if (installed.failed.length) throw new Error(`dcm2niix gear: ${installed.failed[0]!.reason}`);
    const gearId = (await api('POST', '/lookup', { path: ['gears', 'dcm2niix'] }))._id as string;
    engine = spawn(process.execPath, ['--conditions=@sprocket/source', '--import', 'tsx', path.join(ROOT, 'packages/engine/src/main.ts')], {
      env: {
        ...process.env,
        SPROCKET_API_KEY: server.engineKey!,
        SPROCKET_ENGINE_CONCURRENCY: '1',
        SPROCKET_ENGINE_DIR: path.join(scratch, 'engine'),
        SPROCKET_LOG_LEVEL: 'warn',
      },
      stdio: 'inherit',
    });
    await api('POST', '/groups', { _id: 'bench', label: 'bench' });
    const project = (await api('POST', '/projects', { group: 'bench', label: 'dcm2niix' }))._id as string;
    const session = (await api('POST', '/sessions', { project, label: 'ses-01', subject: { label: 'sub-01' } }))._id as string;

    /** One conversion through Sprocket: upload, job, outputs saved. */
    const throughSprocket = async (zip: Buffer, name: string) => {
      const acq = (await api('POST', '/acquisitions', { session, label: name }))._id as string;
      const t0 = performance.now();
      const form = new FormData();
      form.append('file', new Blob([zip]), name);
      await api('POST', `/acquisitions/${acq}/files`, form);
      const uploadMs = performance.now() - t0;
      const file = { type: 'acquisition', id: acq, name };
      const jobId = (
        await api('POST', '/jobs/add', { gear_id: gearId, inputs: { dcm2niix_input: file }, destination: { type: 'acquisition', id: acq } })
      )._id as string;
      let job: any;
      for (;;) {
        job = await api('GET', `/jobs/${jobId}`);
        if (['complete', 'failed', 'cancelled'].includes(job.state)) break;
        await sleep(10);
      }
      const totalMs = performance.now() - t0;
      if (job.state !== 'complete')
        throw new Error(
          `dcm2niix job ${jobId} on ${name} ended ${job.state}: ${JSON.stringify((await api('GET', `/jobs/${jobId}/logs`)).logs.slice(-5))}`,
        );
      const saved = ((await api('GET', `/acquisitions/${acq}`)).files as { type: string }[]).filter((f) => f.type === 'nifti');
      if (!saved.length) throw new Error(`dcm2niix job ${jobId} on ${name} completed without a NIfTI on the acquisition`);
      const profile = job.profile ?? {};
      return {
        totalMs,
        uploadMs,
        queuedMs: Date.parse(job.transitions.running) - Date.parse(job.created),
        prepareMs: Number(profile.preparation_time_ms ?? Number.NaN),
        gearMs: Number(profile.elapsed_time_ms ?? Number.NaN),
        saveMs: Number(profile.upload_time_ms ?? Number.NaN),
      };
    };

    const rows: Dcm2niixBenchRow[] = [];
    for (const series of [...found.series, await syntheticSeries(path.join(scratch, 'synthetic'))]) {
      const files = fs.readdirSync(series.dir).map((f) => path.join(series.dir, f));
      const name = `${series.subject}.dicom.zip`;
      const zip = fs.readFileSync(await zipFiles(files, path.join(scratch, name)));
      const out = path.join(scratch, 'by-hand', series.subject);
      // Warm-up: page cache, the engine's gear cache, the JIT.
      await byHand(series.dir, out);
      await throughSprocket(zip, name);
      const hand: number[] = [];
      const sprocket: Awaited<ReturnType<typeof throughSprocket>>[] = [];
      for (let i = 0; i < runs; i++) {
        hand.push(await byHand(series.dir, out));
        sprocket.push(await throughSprocket(zip, name));
      }
      const row: Dcm2niixBenchRow = {
        series: `${series.what} (${series.dims.join('×')})`,
        files: files.length,
        mb: files.reduce((n, f) => n + fs.statSync(f).size, 0) / 1e6,
        byHandMs: median(hand),
        sprocketMs: median(sprocket.map((r) => r.totalMs)),
        uploadMs: median(sprocket.map((r) => r.uploadMs)),
        queuedMs: median(sprocket.map((r) => r.queuedMs)),
        prepareMs: median(sprocket.map((r) => r.prepareMs)),
        gearMs: median(sprocket.map((r) => r.gearMs)),
        saveMs: median(sprocket.map((r) => r.saveMs)),
        ratio: 0,
      };
      row.ratio = row.sprocketMs / row.byHandMs;
      rows.push(row);
    }

    log(
      `dcm2niix: through Sprocket (upload .dicom.zip → job → outputs saved, one engine) vs by hand; medians of ${runs} runs, ${os.availableParallelism()} cores, ${process.env.DATABASE_URL ? 'PostgreSQL' : 'SQLite'}`,
    );
    const ms = (v: number) => v.toFixed(0);
    log(
      table(
        ['series', 'files', 'MB', 'by hand ms', 'Sprocket ms', 'upload', 'queued', 'prepare', 'gear', 'save', 'ratio'],
        rows.map((r) => [
          r.series,
          r.files,
          r.mb.toFixed(1),
          ms(r.byHandMs),
          ms(r.sprocketMs),
          ms(r.uploadMs),
          ms(r.queuedMs),
          ms(r.prepareMs),
          ms(r.gearMs),
          ms(r.saveMs),
          r.ratio.toFixed(2),
        ]),
      ),
    );
    const sum = (f: (r: Dcm2niixBenchRow) => number) => rows.reduce((n, r) => n + f(r), 0);
    log(`  ratio Sprocket / by hand over all series: ${(sum((r) => r.sprocketMs) / sum((r) => r.byHandMs)).toFixed(2)}`);
    log('  (upload: the .dicom.zip into the acquisition; queued: until an engine ran it; prepare, gear, save: the engine fetching');
    log('   and unpacking the input, the gear (dcm2niix and its metadata) in the sandbox, the outputs uploaded; medians each)');
    return rows;
  } finally {
    if (engine && engine.exitCode === null) {
      engine.kill('SIGTERM');
      await exited(engine);
    }
    await server.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await benchDcm2niix();
}
