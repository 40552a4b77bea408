/**
 * `npm run bench:startup`: what the compiled build (`npm run build`) saves against running the
 * TypeScript sources through tsx, both measured in this one run on this machine.
 *
 *   - CLI start: wall time of `sprocket --version`, the compiled bin (packages/cli/bin/sprocket.js,
 *     what `npm install -g` links) against the sources under tsx (what the bin ran before);
 *     median of BENCH_STARTUP_RUNS runs each, interleaved so load on the machine hits both alike.
 *     Target: compiled ≤ 150 ms median. A bare `node -e 0` is printed beside them: on a busy
 *     machine it shows how much of either is Node's own start.
 *   - Server RSS idle after start: VmRSS of the server process once it listens and has been idle
 *     BENCH_STARTUP_SETTLE_MS. Target: compiled ≤ 70 MB. BENCH_BASELINE_SERVER=<dir>/main.js: an
 *     earlier build of the server (a copy of packages/server/dist kept inside the checkout, so its
 *     packages resolve, e.g. `cp -r packages/server/dist .bench-baseline/server-dist`), measured in the
 *     same run and printed beside, with the ratio.
 *
 * Builds first if packages/cli or packages/server have no dist/.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVER_ENTRY } from '../scripts/entries.js';
import { startServerProcess } from './server-process.js';
import { elapsedMs, envInt, median } from './stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const RUNS = envInt('BENCH_STARTUP_RUNS', 15);
const SETTLE_MS = envInt('BENCH_STARTUP_SETTLE_MS', 5000);
const BASELINE = process.env.BENCH_BASELINE_SERVER ? path.resolve(process.env.BENCH_BASELINE_SERVER) : undefined;

if (!fs.existsSync('packages/cli/dist/main.js') || !fs.existsSync(SERVER_ENTRY)) {
  const r = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
}

// Nothing a developer's shell set (a stored key, NODE_OPTIONS) changes what is measured.
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: fs.mkdtempSync(path.join(os.tmpdir(), 'bench-startup-home-')) };

const variants = {
  'node -e 0': ['-e', '0'],
  'tsx (sources)': ['--conditions=@sprocket/source', '--import', 'tsx', 'packages/cli/src/main.ts', '--version'],
  'compiled bin': ['packages/cli/bin/sprocket.js', '--version'],
} as const;
type Variant = keyof typeof variants;

function timeOnce(args: readonly string[]): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
  const ms = elapsedMs(t);
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

function rssMB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

async function idleServerRss(compiled: boolean, entry?: string): Promise<number> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-startup-data-'));
  const server = await startServerProcess(dataDir, env, { compiled, entry });
  try {
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    return rssMB(server.child.pid!);
  } finally {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const times = Object.fromEntries(Object.keys(variants).map((k) => [k, [] as number[]])) as Record<Variant, number[]>;
for (const k of Object.keys(variants) as Variant[]) timeOnce(variants[k]); // warm the file cache
for (let i = 0; i < RUNS; i++) for (const k of Object.keys(variants) as Variant[]) times[k].push(timeOnce(variants[k]));

const rss = {
  tsx: await idleServerRss(false),
  compiled: await idleServerRss(true),
  baseline: BASELINE ? await idleServerRss(true, BASELINE) : undefined,
};
fs.rmSync(env.HOME!, { recursive: true, force: true });

const ms = (k: Variant) => median(times[k]);
console.log(`CLI start, sprocket --version (median of ${RUNS}, ${os.availableParallelism()} cores, load ${os.loadavg()[0]!.toFixed(1)}):`);
for (const k of Object.keys(variants) as Variant[]) console.log(`  ${k.padEnd(14)} ${ms(k).toFixed(0).padStart(5)} ms`);
console.log(
  `  compiled: ${ms('compiled bin') <= 150 ? 'meets' : 'misses'} the 150 ms target (${(ms('compiled bin') - ms('node -e 0')).toFixed(0)} ms over a bare node)`,
);
console.log(`Server RSS idle ${SETTLE_MS / 1000} s after start:`);
console.log(`  tsx (sources)  ${rss.tsx.toFixed(0).padStart(5)} MB`);
console.log(`  compiled       ${rss.compiled.toFixed(0).padStart(5)} MB  (${rss.compiled <= 70 ? 'meets' : 'misses'} the 70 MB target)`);
if (rss.baseline !== undefined)
  console.log(
    `  baseline       ${rss.baseline.toFixed(0).padStart(5)} MB  (${path.relative(root, BASELINE!)}; compiled/baseline ${(rss.compiled / rss.baseline).toFixed(2)})`,
  );
