/**
 * `npm run bench:faults [-- --small] [-- --parts jobs]`: proof under load and faults.
 *
 *   jobs        engine kill -9 at random moments during a large batch, and server kill -9, on
 *               SQLite and (with DATABASE_URL) on PostgreSQL: every job completes exactly once, every
 *               output is there once and whole, the store holds nothing half-written or unowned
 *   throughput  a synthetic project (100 × 2 × 4 series) through dcm2niix and nifti-qa with 1, 2 and 4
 *               engine slots and through Slurm, beside dcm2niix by hand over the same series (ratio)
 *   slurm       a Slurm compute job's node-side step killed -9 while its gear runs: the engine
 *               notices from the cluster's word and submits the same job again (needs root and Slurm)
 *   uploads     uploads cut at random offsets (client hang-up, server kill -9) among whole ones, on both
 *               databases: nothing partial is ever visible, whole uploads and earlier versions stay whole
 *   input       1,000+ malformed requests from every operation of the OpenAPI document, on both databases:
 *               no 5xx, no hang-up, the server still answering (BENCH_SEED=n replays a campaign)
 *
 * The full campaign without throughput takes about 25 minutes on 2 cores; throughput at full size
 * (1,600 jobs per engine setup, four setups) takes hours; `--small` (what CI runs) takes minutes. Prints one table; exits 1
 * when anything was lost, doubled, half-written or answered 5xx. DATABASE_URL=postgres://… (a server
 * to create throwaway databases on) adds the PostgreSQL runs; BENCH_KEEP=1 keeps the work directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FaultsContext, FaultsPart, PartReport } from './faults/part.js';
import { table } from './stats.js';

const PARTS: Record<string, () => Promise<FaultsPart>> = {
  jobs: async () => (await import('./faults/jobs.js')).run,
  input: async () => (await import('./faults/input.js')).run,
  slurm: async () => (await import('./faults/slurm.js')).run,
  throughput: async () => (await import('./faults/throughput.js')).run,
  uploads: async () => (await import('./faults/uploads.js')).run,
};

function parseArgs(argv: string[]): { small: boolean; parts: string[] } {
  let small = false;
  let parts = Object.keys(PARTS);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--small') small = true;
    else if (a === '--parts' || a.startsWith('--parts=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      parts = (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const unknown = parts.filter((p) => !(p in PARTS));
      if (unknown.length || !parts.length)
        fail(`--parts: unknown part ${unknown.join(', ') || '(none given)'}; the parts are ${Object.keys(PARTS).join(', ')}`);
    } else fail(`unknown argument '${a}': use --small and --parts ${Object.keys(PARTS).join(',')}`);
  }
  return { small, parts };
}

function fail(message: string): never {
  console.error(`bench:faults: ${message}`);
  process.exit(2);
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { small, parts } = parseArgs(process.argv.slice(2));
const keep = process.env.BENCH_KEEP === '1';
const postgresUrl = process.env.DATABASE_URL?.startsWith('postgres') ? process.env.DATABASE_URL : undefined;
const started = Date.now();
const reports: PartReport[] = [];

for (const name of parts) {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `sprocket-faults-${name}-`));
  // Gears run as an unprivileged uid that must read the job directories under it.
  fs.chmodSync(workDir, 0o755);
  const ctx: FaultsContext = { small, root, workDir, postgresUrl, log: (l) => console.log(`[${name}] ${l}`) };
  const t0 = Date.now();
  console.log(`=== ${name}${small ? ' (small)' : ''} ===`);
  try {
    const run = await PARTS[name]!();
    reports.push(...(await run(ctx)));
  } catch (e) {
    // A part that crashes has proved nothing: that is a failure of the campaign, with its reason.
    reports.push({ title: name, rows: [], problems: [`the part stopped: ${(e as Error).stack ?? String(e)}`] });
  } finally {
    if (keep) console.log(`[${name}] kept ${workDir}`);
    else fs.rmSync(workDir, { recursive: true, force: true });
  }
  console.log(`[${name}] ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

const rows: (string | number)[][] = [];
for (const r of reports) {
  rows.push([`${r.title}`, r.skipped ? `skipped: ${r.skipped}` : r.problems.length ? `FAILED (${r.problems.length})` : 'ok']);
  for (const [measure, value] of r.rows) rows.push([`  ${measure}`, value]);
}
console.log(
  `\nbench:faults${small ? ' --small' : ''}: ${os.availableParallelism()} cores, ${((Date.now() - started) / 60000).toFixed(1)} min\n`,
);
console.log(table(['part / measure', 'value'], rows));
const problems = reports.flatMap((r) => r.problems.map((p) => `${r.title}: ${p}`));
if (problems.length) {
  console.log(`\n${problems.length} problem(s):`);
  for (const p of problems.slice(0, 50)) console.log(`  - ${p}`);
  if (problems.length > 50) console.log(`  … and ${problems.length - 50} more`);
  process.exit(1);
}
process.exit(0);
