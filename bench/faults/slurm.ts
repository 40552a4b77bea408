import fs from 'node:fs';
import path from 'node:path';
import { BwrapExecutor } from '@sprocket/engine';
import { processesWith } from '../../test-fixtures/processes.js';
import { type SlurmCluster, slurmUnavailable, startSlurm } from '../../test-fixtures/slurm.js';
import { median } from '../stats.js';
import { startCluster } from './cluster.js';
import { checkOutcome, faultWriterSession, storeLeftovers } from './jobs.js';
import type { FaultsPart, PartReport } from './part.js';

/** The executor a Slurm step uses on the node: the sandbox where it works, else plain processes (as root, as the tests do). */
export async function nodeExecutor(): Promise<'bwrap' | 'process'> {
  return (await new BwrapExecutor().available()) ? 'bwrap' : 'process';
}

/** A slurm-mode engine's settings for this cluster, its steps running `inner` on the node. */
export function slurmEngineEnv(slurm: SlurmCluster, inner: 'bwrap' | 'process'): NodeJS.ProcessEnv {
  return {
    ...slurm.env,
    SPROCKET_EXECUTOR: 'slurm',
    SPROCKET_SLURM_EXECUTOR: inner,
    SPROCKET_SLURM_POLL: '0.5',
    SPROCKET_SLURM_PARTITION: slurm.partition,
    ...(inner === 'process' ? { SPROCKET_PROCESS_EXECUTOR_AS_ROOT: 'true' } : {}),
  };
}

/**
 * Slurm compute jobs killed mid-run: a batch runs through a slurm-mode engine on a real single-node
 * Slurm (test-fixtures/slurm.ts), and while a job's gear runs on the node its node-side step (what
 * the batch script execs) is killed with -9, as a node agent or an operator would. The engine must
 * notice from the cluster's word alone (Slurm job FAILED by signal 9, no report from the step) and
 * submit the same job again; afterwards every job has completed exactly once and every output is
 * there once and whole. Each job is killed at most once, so the engine's resubmit limit is not what
 * is measured.
 */
const FULL = { jobs: 20, kills: 10 };
const SMALL = { jobs: 6, kills: 3 };
const OUTPUT_BYTES = 16 * 1024;
/** The gear's pause: long enough that the kill finds the gear running, not starting or uploading. */
const GEAR_SECONDS = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const run: FaultsPart = async (ctx) => {
  const title = 'Slurm compute job killed mid-run (SQLite)';
  const unavailable = slurmUnavailable();
  if (unavailable) return [{ title, rows: [], problems: [], skipped: unavailable }];
  const c = ctx.small ? SMALL : FULL;
  const inner = await nodeExecutor();
  const slurm = await startSlurm();
  const dataDir = path.join(ctx.workDir, 'sqlite');
  const cluster = await startCluster(
    ctx.root,
    dataDir,
    {
      PATH: process.env.PATH,
      SPROCKET_JOB_HEARTBEAT_TIMEOUT: '10',
      SPROCKET_JOB_MAX_ATTEMPTS: '3',
    },
    { compiled: true },
  );
  const problems: string[] = [];
  let report: PartReport | undefined;
  let versions = 0;
  try {
    const { gearId, session } = await faultWriterSession(cluster, ctx.workDir, 'Slurm kills');
    const acquisition = (await cluster.call('POST', '/acquisitions', { session, label: 'acq-0' }))._id;
    const engineKey = (await cluster.call('POST', '/devices', { name: 'slurm faults engine' })).key;
    const originals = new Map<string, number>();
    const idOf = new Map<number, string>();
    for (let n = 0; n < c.jobs; n++) {
      const job = await cluster.call('POST', '/jobs/add', {
        gear_id: gearId,
        destination: { type: 'acquisition', id: acquisition },
        config: { n, bytes: OUTPUT_BYTES, seconds: GEAR_SECONDS },
        resources: { cpu: 1 },
      });
      originals.set(job._id, n);
      idOf.set(n, job._id);
    }
    cluster.startEngines(engineKey, 1, slurmEngineEnv(slurm, inner));

    const t0 = Date.now();
    const killed = new Map<string, { slurmId: string; noticedMs?: number }>();
    for (let k = 0; k < c.kills; k++) {
      // A job whose gear is pausing right now (its named sleep is alive) and that was not killed before.
      let target: { n: number; jobId: string; steps: number[] } | undefined;
      const until = Date.now() + 120_000;
      while (!target && Date.now() < until) {
        for (const pid of processesWith('sprocket-fault-pause-')) {
          const n = Number(/sprocket-fault-pause-(\d+)/.exec(cmdline(pid))?.[1]);
          const jobId = idOf.get(n);
          if (!jobId || killed.has(jobId)) continue;
          const steps = processesWith('slurm-step').filter((p) => cmdline(p).includes(jobId));
          if (steps.length) target = { n, jobId, steps };
          break;
        }
        if (!target) await sleep(100);
      }
      if (!target) {
        problems.push(`kill ${k + 1}: no job's gear was found running on the node within 120 s`);
        break;
      }
      const before = (await cluster.call('GET', `/jobs/${target.jobId}`)).cluster?.job_id;
      for (const pid of target.steps) process.kill(pid, 'SIGKILL');
      const at = Date.now();
      const entry: { slurmId: string; noticedMs?: number } = { slurmId: before };
      killed.set(target.jobId, entry);
      // Noticed: the engine has submitted the same job again, a new Slurm job on the job document.
      while (Date.now() - at < 60_000) {
        const job = await cluster.call('GET', `/jobs/${target.jobId}`);
        if (job.cluster?.job_id && job.cluster.job_id !== before) {
          entry.noticedMs = Date.now() - at;
          break;
        }
        if (job.state !== 'running') break;
        await sleep(100);
      }
      if (entry.noticedMs === undefined) problems.push(`job ${target.jobId} (Slurm job ${before}) killed: not submitted again within 60 s`);
      ctx.log(`kill ${k + 1}/${c.kills}: job ${target.jobId}, Slurm job ${before}, noticed in ${entry.noticedMs ?? '—'} ms`);
    }

    for (;;) {
      const { states } = await cluster.call('GET', '/jobs/stats');
      if (states.pending === 0 && states.running === 0) break;
      if (Date.now() - t0 > 600_000) {
        problems.push(`the batch did not settle in 10 min: ${JSON.stringify(states)}`);
        break;
      }
      await sleep(500);
    }
    const seconds = (Date.now() - t0) / 1000;

    // A killed job is finished by its second Slurm job: the same attempt, saying why it went again.
    let resubmitted = 0;
    for (const [jobId, { slurmId }] of killed) {
      const job = await cluster.call('GET', `/jobs/${jobId}`);
      const logs: { fd: number; msg: string }[] = (await cluster.call('GET', `/jobs/${jobId}/logs`)).logs;
      const said = logs.some((l) => l.fd === -1 && l.msg.includes(`(Slurm job ${slurmId}: FAILED); submitted again as Slurm job`));
      if (job.state === 'complete' && job.attempt === 1 && said) resubmitted++;
      else problems.push(`job ${jobId} killed on Slurm job ${slurmId}: ${job.state}, attempt ${job.attempt}, resubmission logged: ${said}`);
    }
    const check = await checkOutcome(cluster, gearId, originals, [acquisition], OUTPUT_BYTES);
    problems.push(...check.problems, ...cluster.serverErrors, ...cluster.serverLogProblems());
    if (check.orphaned) problems.push(`${check.orphaned} attempts were orphaned: the engine should have kept every job its own`);
    versions = check.storedVersions;
    const noticed = [...killed.values()].map((k) => k.noticedMs).filter((ms): ms is number => ms !== undefined);
    report = {
      title,
      problems,
      rows: [
        ['jobs (one output each), node-side executor', `${c.jobs}, ${inner}`],
        ['steps killed -9 while their gear ran', killed.size],
        ['killed jobs submitted again and completed (same attempt)', `${resubmitted} of ${killed.size}`],
        [
          'kill noticed and resubmitted within (ms, max / median)',
          noticed.length ? `${Math.max(...noticed)} / ${Math.round(median(noticed))}` : '—',
        ],
        ['numbers completed exactly once', `${check.exactlyOnce} of ${c.jobs}`],
        ['outputs present once, from the completing job, whole', `${check.wholeOutputs} of ${c.jobs}`],
        ['wall time (s)', seconds.toFixed(0)],
        ['answers 5xx', cluster.serverErrors.length],
      ],
    };
  } finally {
    await cluster.stop();
    await slurm.stop();
  }
  const left = storeLeftovers(dataDir, versions);
  report.problems.push(...left.problems);
  report.rows.push(['store after a clean stop: staged entries, blobs', `${left.staged}, ${left.blobs}`]);
  return [report];
};

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}
