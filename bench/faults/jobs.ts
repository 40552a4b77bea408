import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createDatabase, dropDatabase } from '../../test-fixtures/pg-databases.js';
import { benchTransport } from '../api.js';
import { allJobs, type Cluster, startCluster, uploadGearDir } from './cluster.js';
import type { FaultsContext, FaultsPart, PartReport } from './part.js';

/**
 * A batch of jobs whose engines and server are killed with -9 while it runs. Each job writes one
 * output file whose whole content follows from its number, so afterwards every number must have
 * exactly one complete job, and its destination exactly one file of that name, from that job, whole.
 *
 * Kills come at random points of the batch's progress (so all of them land while it runs), each
 * after a random delay of up to half a second, which puts them anywhere in a job's life: claiming,
 * fetching the gear, running, uploading outputs, finishing.
 */
interface Campaign {
  jobs: number;
  engineKills: number;
  serverKills: number;
  engines: number;
  slots: number;
  outputBytes: number;
}

const FULL: Campaign = { jobs: 5000, engineKills: 100, serverKills: 10, engines: 2, slots: 2, outputBytes: 64 * 1024 };
const SMALL: Campaign = { jobs: 300, engineKills: 10, serverKills: 2, engines: 2, slots: 2, outputBytes: 16 * 1024 };
/** Jobs per destination acquisition. */
export const PER_ACQUISITION = 100;
const HEARTBEAT_TIMEOUT_S = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What job n's output holds: its name repeated up to the size, so a torn or mixed file shows. */
function outputContent(n: number, bytes: number): Buffer {
  const line = Buffer.from(`sprocket-fault-${n}\n`);
  return Buffer.alloc(bytes, line);
}

export function writeGear(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'manifest.json'),
    JSON.stringify({
      name: 'fault-writer',
      label: 'Fault writer',
      description: 'bench:faults: writes one output whose content follows from its number, after a short random pause.',
      version: '1.0.0',
      author: 'Sprocket bench',
      license: 'MIT',
      url: '',
      source: '',
      config: { n: { type: 'integer' }, bytes: { type: 'integer' }, seconds: { type: 'integer', optional: true } },
      inputs: {},
    }),
  );
  // The same bytes outputContent builds: `yes` repeats the line, head cuts it at the size. The pause
  // (`seconds` more when set) runs under a name the Slurm part finds the job's gear by.
  fs.writeFileSync(
    path.join(dir, 'run'),
    [
      '#!/bin/bash',
      'set -e',
      '(exec -a "sprocket-fault-pause-$FW_CONFIG_N" sleep "$((FW_CONFIG_SECONDS + 0)).$((RANDOM % 4))")',
      'yes "sprocket-fault-$FW_CONFIG_N" | head -c "$FW_CONFIG_BYTES" > "output/result-$FW_CONFIG_N.txt.tmp"',
      'mv "output/result-$FW_CONFIG_N.txt.tmp" "output/result-$FW_CONFIG_N.txt"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
}

/** The fault-writer gear uploaded, and a group, project and session for its jobs' outputs. */
export async function faultWriterSession(cluster: Cluster, workDir: string, project: string): Promise<{ gearId: string; session: string }> {
  const gearDir = path.join(workDir, 'gear-fault-writer');
  writeGear(gearDir);
  const gearId = await uploadGearDir(cluster, gearDir, 'fault-writer');
  const group = `faults${Date.now().toString(36)}`;
  await cluster.call('POST', '/groups', { _id: group, label: 'Faults' });
  const projectId = (await cluster.call('POST', '/projects', { group, label: project }))._id;
  const session = (await cluster.call('POST', '/sessions', { project: projectId, label: 'ses-faults' }))._id;
  return { gearId, session };
}

/** Random points in (0.02, 0.95) of `total`, sorted: where the kills go. */
function killPoints(count: number, total: number): number[] {
  return Array.from({ length: count }, () => Math.floor(total * (0.02 + Math.random() * 0.93))).sort((a, b) => a - b);
}

async function campaign(ctx: FaultsContext, c: Campaign, database: 'SQLite' | 'PostgreSQL'): Promise<PartReport> {
  const title = `engine and server kill -9 during a batch (${database})`;
  const problems: string[] = [];
  const dbUrl = database === 'PostgreSQL' ? await createDatabase(ctx.postgresUrl!, 'sprocket_faults') : undefined;
  const dataDir = path.join(ctx.workDir, database.toLowerCase());
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    SPROCKET_JOB_HEARTBEAT_TIMEOUT: String(HEARTBEAT_TIMEOUT_S),
    // Room for a job to be caught by several kills: one that runs out of attempts counts as lost.
    SPROCKET_JOB_MAX_ATTEMPTS: '20',
    ...(dbUrl ? { DATABASE_URL: dbUrl } : {}),
  };
  const cluster = await startCluster(ctx.root, dataDir, env, { compiled: true });
  let report: PartReport | undefined;
  let versions = 0;
  try {
    const { gearId, session } = await faultWriterSession(cluster, ctx.workDir, `Jobs ${database}`);
    const acquisitions: string[] = [];
    for (let i = 0; i * PER_ACQUISITION < c.jobs; i++)
      acquisitions.push((await cluster.call('POST', '/acquisitions', { session, label: `acq-${i}` }))._id);
    const engineKey = (await cluster.call('POST', '/devices', { name: 'faults engine' })).key;

    // The whole batch is queued before the first kill: a kill then never meets a queuing call.
    const t0 = Date.now();
    const originals = new Map<string, number>();
    for (let i = 0; i < c.jobs; i += 25) {
      const batch = Array.from({ length: Math.min(25, c.jobs - i) }, (_, k) => i + k);
      const ids = await Promise.all(
        batch.map((n) =>
          cluster.call('POST', '/jobs/add', {
            gear_id: gearId,
            destination: { type: 'acquisition', id: acquisitions[Math.floor(n / PER_ACQUISITION)] },
            config: { n, bytes: c.outputBytes },
          }),
        ),
      );
      for (const [k, r] of ids.entries()) originals.set(r._id, batch[k]!);
    }
    ctx.log(`${database}: ${c.jobs} jobs queued in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    cluster.startEngines(engineKey, c.engines, {
      SPROCKET_ENGINE_CONCURRENCY: String(c.slots),
      SPROCKET_EXECUTOR: 'auto',
      SPROCKET_ENGINE_SHUTDOWN_GRACE: '2',
    });
    const run0 = Date.now();
    const kills = [
      ...killPoints(c.engineKills, c.jobs).map((at) => ({ at, what: 'engine' as const })),
      ...killPoints(c.serverKills, c.jobs).map((at) => ({ at, what: 'server' as const })),
    ].sort((a, b) => a.at - b.at);
    let engineKills = 0;
    let serverKills = 0;
    let lastLog = 0;
    for (;;) {
      const { states } = await cluster.call('GET', '/jobs/stats');
      const done = states.complete as number;
      while (kills.length && kills[0]!.at <= done) {
        const k = kills.shift()!;
        await sleep(Math.random() * 500);
        if (k.what === 'engine') {
          await cluster.killEngine(Math.floor(Math.random() * cluster.engineCount()));
          engineKills++;
        } else {
          await cluster.killServer();
          serverKills++;
        }
      }
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        ctx.log(
          `${database}: ${done}/${c.jobs} complete, ${states.running} running, ${states.pending} pending, ${states.failed} failed; kills ${engineKills} engine, ${serverKills} server`,
        );
      }
      if (!kills.length && states.pending === 0 && states.running === 0) break;
      if (Date.now() - run0 > c.jobs * 2000 + 300_000) {
        problems.push(`the batch did not settle: ${JSON.stringify(states)}`);
        break;
      }
      await sleep(250);
    }
    const runSeconds = (Date.now() - run0) / 1000;

    const check = await checkOutcome(cluster, gearId, originals, acquisitions, c.outputBytes);
    problems.push(...check.problems, ...cluster.serverErrors, ...cluster.serverLogProblems());
    report = {
      title,
      problems,
      rows: [
        ['jobs queued (one output each)', c.jobs],
        ['engines × slots', `${c.engines} × ${c.slots}`],
        ['engine kill -9 / server kill -9', `${engineKills} / ${serverKills}`],
        ['wall time (s), jobs per second', `${runSeconds.toFixed(0)}, ${(c.jobs / runSeconds).toFixed(1)}`],
        ['attempts that failed (orphaned / other)', `${check.orphaned} / ${check.otherFailures}`],
        ['retries that completed', check.retriesCompleted],
        ['numbers completed exactly once', `${check.exactlyOnce} of ${c.jobs}`],
        ['outputs present once, from the completing job, whole', `${check.wholeOutputs} of ${c.jobs}`],
        ['earlier whole versions left by attempts killed after their upload', check.earlierVersions],
        ['answers 5xx', cluster.serverErrors.length],
      ],
    };
    versions = check.storedVersions;
  } finally {
    await cluster.stop();
    if (dbUrl) await dropDatabase(dbUrl).catch(() => undefined);
  }
  const left = storeLeftovers(dataDir, versions);
  report.problems.push(...left.problems);
  report.rows.push(['store after a clean stop: staged entries, blobs', `${left.staged}, ${left.blobs}`]);
  return report;
}

/** Files under a folder, recursively (0 when it does not exist). */
export function countFiles(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
}

/** The local store's writes in progress: `<key>.part` while content streams in, `<key>.pending` markers. */
export const stagingDir = (dataDir: string) => path.join(dataDir, 'files', 'staging');

/**
 * What the local store holds once the server has stopped cleanly: the staging folder must be empty
 * (a `.part` is a half-written upload, a `.pending` an unconfirmed one), and every blob must belong
 * to a stored file version or to one of the `gearArchives` gears uploaded (the fault-writer's, by default).
 */
export function storeLeftovers(dataDir: string, versions: number, gearArchives = 1): { staged: number; blobs: number; problems: string[] } {
  const staged = countFiles(stagingDir(dataDir));
  const blobs = countFiles(path.join(dataDir, 'files', 'blobs'));
  const problems: string[] = [];
  if (staged) problems.push(`${staged} entries left in the store's staging folder after a clean stop`);
  // One blob per stored version and gear archive: anything more is content no row points at.
  if (blobs !== versions + gearArchives) {
    const gears = gearArchives === 1 ? ' and one gear archive' : gearArchives ? ` and ${gearArchives} gear archives` : '';
    problems.push(`${blobs} blobs in the store for ${versions} file versions${gears}`);
  }
  return { staged, blobs, problems };
}

export interface Outcome {
  problems: string[];
  orphaned: number;
  otherFailures: number;
  retriesCompleted: number;
  exactlyOnce: number;
  wholeOutputs: number;
  /** File versions behind the outputs: one each, plus those killed attempts left. */
  storedVersions: number;
  earlierVersions: number;
}

export async function checkOutcome(
  cluster: Cluster,
  gearId: string,
  originals: Map<string, number>,
  acquisitions: string[],
  bytes: number,
): Promise<Outcome> {
  const problems: string[] = [];
  const jobs = (await allJobs(cluster)).filter((j) => j.gear_id === gearId);
  const byNumber = new Map<number, any[]>();
  for (const j of jobs) {
    const n = j.config?.config?.n ?? j.config?.n;
    if (typeof n !== 'number') {
      problems.push(`job ${j.id} carries no number in its config`);
      continue;
    }
    byNumber.set(n, [...(byNumber.get(n) ?? []), j]);
  }
  if (byNumber.size !== originals.size) problems.push(`${originals.size} numbers queued, ${byNumber.size} found among the jobs`);
  let orphaned = 0;
  let otherFailures = 0;
  let retriesCompleted = 0;
  let exactlyOnce = 0;
  const completing = new Map<number, string>();
  for (const [n, attempts] of byNumber) {
    const complete = attempts.filter((j) => j.state === 'complete');
    for (const j of attempts) {
      if (j.state === 'failed' && /orphaned/.test(j.failure_reason ?? '')) orphaned++;
      else if (j.state === 'failed') {
        otherFailures++;
        problems.push(`job ${j.id} (number ${n}, attempt ${j.attempt}) failed: ${j.failure_reason}`);
      } else if (j.state !== 'complete') problems.push(`job ${j.id} (number ${n}) ended ${j.state}`);
    }
    if (complete.length === 1) {
      exactlyOnce++;
      completing.set(n, complete[0].id);
      if (complete[0].attempt > 1) retriesCompleted++;
    } else problems.push(`number ${n}: ${complete.length} complete jobs (${attempts.map((j) => `${j.id}:${j.state}`).join(', ')})`);
  }

  // Every output, by listing (present once, from the right job, the right size and hash) and by content.
  const transport = benchTransport(cluster.url, cluster.key);
  const attemptsById = new Map<string, { n: number; job: any }>();
  for (const [n, attempts] of byNumber) for (const job of attempts) attemptsById.set(job.id, { n, job });
  let wholeOutputs = 0;
  let storedVersions = 0;
  let earlierVersions = 0;
  for (let a = 0; a < acquisitions.length; a++) {
    const files: any[] = (await cluster.call('GET', `/acquisitions/${acquisitions[a]}`)).files ?? [];
    const expected = new Set<string>();
    for (let n = a * PER_ACQUISITION; n < Math.min(originals.size, (a + 1) * PER_ACQUISITION); n++) expected.add(`result-${n}.txt`);
    for (const f of files) if (!expected.has(f.name)) problems.push(`acquisition ${a}: unexpected file ${f.name}`);
    for (const name of expected) {
      const n = Number(/\d+/.exec(name)![0]);
      const same = files.filter((f) => f.name === name);
      if (same.length !== 1) {
        problems.push(`${name}: ${same.length} files of that name`);
        continue;
      }
      const want = outputContent(n, bytes);
      const sha = createHash('sha384').update(want).digest('hex');
      const f = same[0];
      storedVersions += f.version ?? 1;
      if ((f.version ?? 1) > 1) {
        // An attempt killed after its outputs landed but before it finished leaves them as an earlier
        // version (history, as any replaced file): whole, and from a failed attempt of the same number.
        const versions: any[] = await cluster.call('GET', `/acquisitions/${acquisitions[a]}/files/${name}/versions`);
        for (const v of versions.slice(0, -1)) {
          const attempt = attemptsById.get(v.origin?.id);
          if (attempt?.n !== n || attempt.job.state !== 'failed' || v.size !== bytes || v.hash !== `v0-sha384-${sha}`)
            problems.push(`${name} version ${v.version}: from job ${v.origin?.id} (${attempt?.job.state}), size ${v.size}`);
          else earlierVersions++;
        }
      }
      if (f.origin?.id !== completing.get(n)) problems.push(`${name}: from job ${f.origin?.id}, completed by ${completing.get(n)}`);
      else if (f.size !== bytes || f.hash !== `v0-sha384-${sha}`)
        problems.push(`${name}: size ${f.size}, hash ${f.hash}: not the whole output`);
      else {
        const res = await transport.request('GET', `/acquisitions/${acquisitions[a]}/files/${name}`);
        const got = Buffer.from(await res.arrayBuffer());
        if (!got.equals(want)) problems.push(`${name}: downloaded content differs (${got.length} bytes)`);
        else wholeOutputs++;
      }
    }
  }
  return { problems, orphaned, otherFailures, retriesCompleted, exactlyOnce, wholeOutputs, storedVersions, earlierVersions };
}

export const run: FaultsPart = async (ctx) => {
  const c = ctx.small ? SMALL : FULL;
  const reports = [await campaign(ctx, c, 'SQLite')];
  if (ctx.postgresUrl) reports.push(await campaign(ctx, c, 'PostgreSQL'));
  else
    reports.push({
      title: 'engine and server kill -9 during a batch (PostgreSQL)',
      rows: [],
      problems: [],
      skipped: 'DATABASE_URL is not set',
    });
  return reports;
};
