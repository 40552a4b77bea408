import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, type Gear, type Project } from '@sprocket/sdk';
import { sprocket } from '../../e2e/processes.js';
import { buildGears } from '../../scripts/build-gears.js';
import { slurmUnavailable, startSlurm } from '../../test-fixtures/slurm.js';
import { dcm2niixByHand } from '../dcm2niix-by-hand.js';
import { median } from '../stats.js';
import { allJobs, type Cluster, startCluster } from './cluster.js';
import type { FaultsContext, FaultsPart, PartReport } from './part.js';
import { nodeExecutor, slurmEngineEnv } from './slurm.js';

/**
 * Throughput, the baseline the fault parts are read against: a synthetic project (bench/
 * generate-dicom.ts, FULL 100 subjects × 2 sessions × 4 series) imported with `sprocket import
 * dicom`, then dcm2niix and nifti-qa batch-run over it, with one engine of 1, 2 and 4 slots and
 * through Slurm; beside it dcm2niix run by hand, one series after another, with the gear's flags
 * over the same series. Each configuration gets a fresh server (its own data folder), so none
 * inherits another's files. The ratio is the batch's wall time over the by-hand time: what the
 * platform (upload of the inputs to the engine, the sandbox, saving and indexing the outputs, the
 * queue) costs beside the converter itself.
 */
interface Size {
  subjects: number;
  sessions: number;
  series: number;
  slices: number;
}
const FULL: Size = { subjects: 100, sessions: 2, series: 4, slices: 16 };
const SMALL: Size = { subjects: 3, sessions: 2, series: 2, slices: 16 };

interface Setup {
  name: string;
  slots?: number;
  slurm?: true;
}
/** BENCH_THROUGHPUT_SETUPS=2,slurm runs only those (slot counts, or slurm); all four otherwise. */
const ALL_SETUPS: Setup[] = [
  { name: '1 slot', slots: 1 },
  { name: '2 slots', slots: 2 },
  { name: '4 slots', slots: 4 },
  { name: 'Slurm', slurm: true },
];
const SETUPS = (() => {
  const wanted = process.env.BENCH_THROUGHPUT_SETUPS?.split(',').map((w) => w.trim().toLowerCase());
  if (!wanted) return ALL_SETUPS;
  const chosen = ALL_SETUPS.filter((s) => wanted.includes(s.slurm ? 'slurm' : String(s.slots)));
  if (!chosen.length) throw new Error(`BENCH_THROUGHPUT_SETUPS=${process.env.BENCH_THROUGHPUT_SETUPS}: name 1, 2, 4 or slurm`);
  return chosen;
})();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exited(child: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** The series folders generate-dicom wrote: <out>/<subject>/<session>/<series>. */
function seriesDirs(out: string): string[] {
  const dirs: string[] = [];
  for (const sub of fs.readdirSync(out).sort())
    for (const ses of fs.readdirSync(path.join(out, sub)).sort())
      for (const ser of fs.readdirSync(path.join(out, sub, ses)).sort()) dirs.push(path.join(out, sub, ses, ser));
  return dirs;
}

async function generate(ctx: FaultsContext, size: Size): Promise<string> {
  const out = path.join(ctx.workDir, 'dicom');
  const gen = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(ctx.root, 'bench', 'generate-dicom.ts'),
      out,
      ...['--subjects', String(size.subjects), '--sessions', String(size.sessions), '--series', String(size.series)],
      ...['--slices', String(size.slices)],
    ],
    { stdio: 'ignore', cwd: ctx.root },
  );
  if ((await exited(gen)) !== 0) throw new Error('bench/generate-dicom.ts failed');
  return out;
}

/** dcm2niix as the gear runs it by default over every series, one after another. */
async function byHand(dirs: string[], scratch: string): Promise<number> {
  const t0 = performance.now();
  for (const [i, dir] of dirs.entries()) {
    const out = path.join(scratch, String(i));
    fs.mkdirSync(out, { recursive: true });
    const code = await exited(spawn('dcm2niix', dcm2niixByHand(dir, out), { stdio: 'ignore' }));
    if (code !== 0) throw new Error(`dcm2niix by hand on ${dir} exited ${code}`);
  }
  return (performance.now() - t0) / 1000;
}

/** Waits until this server holds no pending or running job; the whole queue is the batch. */
async function settled(cluster: Cluster, limitMs: number): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const { states } = await cluster.call('GET', '/jobs/stats');
    if (states.pending === 0 && states.running === 0) return;
    if (Date.now() - t0 > limitMs) throw new Error(`the batch did not finish in ${limitMs / 1000} s: ${JSON.stringify(states)}`);
    await sleep(500);
  }
}

interface Measured {
  importS: number;
  convertS: number;
  qaS: number;
  jobs: number;
  /** Median prepare / gear / save ms of a dcm2niix job. */
  steps: string;
  problems: string[];
}

async function measure(ctx: FaultsContext, setup: Setup, dicom: string, series: number): Promise<Measured> {
  const dataDir = path.join(ctx.workDir, setup.name.replace(/\W+/g, '-'));
  const cluster = await startCluster(ctx.root, dataDir, { PATH: process.env.PATH }, { compiled: true });
  const slurm = setup.slurm ? await startSlurm() : undefined;
  const problems: string[] = [];
  try {
    const home = path.join(dataDir, 'home');
    fs.mkdirSync(home, { recursive: true });
    const group = `tp${Date.now().toString(36)}`;
    await cluster.call('POST', '/groups', { _id: group, label: 'Throughput' });
    for (const gear of ['dcm2niix', 'nifti-qa']) await sprocket(cluster.key, ['gear', 'upload', path.join(ctx.root, 'gears', gear)], home);
    const engineKey = (await cluster.call('POST', '/devices', { name: `throughput ${setup.name}` })).key;
    // Started before the import, so the batch meets engines already polling.
    if (slurm) cluster.startEngines(engineKey, 1, slurmEngineEnv(slurm, await nodeExecutor()));
    else cluster.startEngines(engineKey, 1, { SPROCKET_ENGINE_CONCURRENCY: String(setup.slots), SPROCKET_EXECUTOR: 'auto' });

    const t0 = performance.now();
    await sprocket(cluster.key, ['import', 'dicom', dicom, group, 'Throughput'], home);
    const importS = (performance.now() - t0) / 1000;

    const fw = new Client(cluster.key);
    const project = await fw.lookup<Project>([group, 'Throughput']);
    const limitMs = series * 20_000 + 120_000;
    const batch = async (gearName: string): Promise<number> => {
      const gear = await fw.lookup<Gear>(['gears', gearName]);
      const t = performance.now();
      const proposal = await gear.proposeBatch([project]);
      if (proposal.matched.length !== series)
        problems.push(`${gearName}: the batch matched ${proposal.matched.length} of ${series} series`);
      await proposal.run();
      await settled(cluster, limitMs);
      return (performance.now() - t) / 1000;
    };
    const convertS = await batch('dcm2niix');
    const qaS = await batch('nifti-qa');

    const jobs = await allJobs(cluster);
    for (const j of jobs.filter((x) => x.state !== 'complete'))
      problems.push(`${setup.name}: job ${j.id} (${j.gear_info?.name}) ${j.state}: ${j.failure_reason ?? ''}`);
    const qaOutputs = jobs.filter(
      (j) => j.gear_info?.name === 'nifti-qa' && (j.saved_files ?? []).some((f: string) => f.endsWith('_qa.json')),
    );
    if (qaOutputs.length !== series) problems.push(`${setup.name}: ${qaOutputs.length} of ${series} QA jobs saved a _qa.json`);
    problems.push(...cluster.serverErrors, ...cluster.serverLogProblems());
    // Where a job's time goes, by the engine's own profile of it (medians over the dcm2niix jobs).
    const profiles = jobs.filter((j) => j.gear_info?.name === 'dcm2niix').map((j) => j.profile ?? {});
    const med = (field: string) => Math.round(median(profiles.map((p) => Number(p[field] ?? Number.NaN)).filter(Number.isFinite)));
    const steps = `${med('preparation_time_ms')} / ${med('elapsed_time_ms')} / ${med('upload_time_ms')}`;
    return { importS, convertS, qaS, jobs: jobs.length, steps, problems };
  } finally {
    await cluster.stop();
    await slurm?.stop();
  }
}

export const run: FaultsPart = async (ctx) => {
  const size = ctx.small ? SMALL : FULL;
  await buildGears(['dcm2niix', 'nifti-qa']);
  const dicom = await generate(ctx, size);
  const dirs = seriesDirs(dicom);
  const files = dirs.reduce((n, d) => n + fs.readdirSync(d).length, 0);
  ctx.log(`${dirs.length} series, ${files} DICOM files`);
  const handS = await byHand(dirs, path.join(ctx.workDir, 'by-hand'));
  ctx.log(`dcm2niix by hand: ${handS.toFixed(1)} s`);

  const report: PartReport = {
    title: `throughput: ${size.subjects} subjects × ${size.sessions} sessions × ${size.series} series through dcm2niix and nifti-qa (SQLite)`,
    rows: [
      ['series, DICOM files', `${dirs.length}, ${files}`],
      ['dcm2niix by hand, one series after another (s)', handS.toFixed(1)],
    ],
    problems: [],
  };
  const slurmWhy = slurmUnavailable();
  for (const setup of SETUPS) {
    if (setup.slurm && slurmWhy) {
      report.rows.push([setup.name, `skipped: ${slurmWhy}`]);
      continue;
    }
    const m = await measure(ctx, setup, dicom, dirs.length);
    ctx.log(`${setup.name}: import ${m.importS.toFixed(1)} s, dcm2niix ${m.convertS.toFixed(1)} s, QA ${m.qaS.toFixed(1)} s`);
    report.problems.push(...m.problems);
    const perSecond = (dirs.length * 2) / (m.convertS + m.qaS);
    report.rows.push(
      [`${setup.name}: import (s)`, m.importS.toFixed(1)],
      [`${setup.name}: dcm2niix batch (s), ratio to by hand`, `${m.convertS.toFixed(1)}, ${(m.convertS / handS).toFixed(2)}`],
      [`${setup.name}: dcm2niix job median prepare / gear / save (ms)`, m.steps],
      [`${setup.name}: nifti-qa batch (s)`, m.qaS.toFixed(1)],
      [`${setup.name}: jobs, jobs per second`, `${m.jobs}, ${perSecond.toFixed(2)}`],
    );
  }
  report.rows.push(['cores', os.availableParallelism()]);
  return [report];
};
