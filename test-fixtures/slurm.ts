import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './processes.js';

/**
 * A real single-node Slurm for tests and benchmarks (environment.md §1.2). When one already answers
 * here (SLURM_CONF or /etc/slurm/slurm.conf) it is used and left running; otherwise munged (the
 * system's, started when it is not running), then slurmctld and slurmd on a PRIVATE configuration
 * — a slurm.conf in a temp folder with its own ports, state, spool, pid and log files — and
 * stop() stops what was started. Needs root and the slurm-wlm + munge packages (scripts/setup.sh).
 * `env` (SLURM_CONF) is what sbatch, squeue and the engine need to reach this cluster.
 */
export interface SlurmCluster {
  env: { SLURM_CONF: string };
  partition: string;
  dir: string;
  /** slurmctld's log so far, for failure messages. */
  log(): string;
  /** Stops what start() started (slurmd, slurmctld, munged if it was not running), waiting for each. */
  stop(): Promise<void>;
}

const MUNGE_SOCKET = '/run/munge/munge.socket.2';

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why a real Slurm cannot be started here, or undefined when it can. */
export function slurmUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'a private Slurm needs root (slurmd runs jobs as their users)';
  for (const cmd of ['slurmctld', 'slurmd', 'sbatch', 'squeue', 'scontrol', 'scancel', 'munged'])
    if (!has(cmd)) return `${cmd} is not installed (scripts/setup.sh installs slurm-wlm and munge)`;
  return undefined;
}

function mungeWorks(): boolean {
  return spawnSync('sh', ['-c', 'munge -n | unmunge'], { stdio: 'ignore' }).status === 0;
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`slurm fixture: ${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function ended(proc: ChildProcess, ms = 10_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(timer);
}

/** The node line `slurmd -C` finds on this machine, renamed to the private node `localhost`. */
function nodeLine(): string {
  const r = spawnSync('slurmd', ['-C'], { encoding: 'utf8' });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('NodeName='));
  if (!line)
    return `NodeName=localhost NodeAddr=127.0.0.1 CPUs=${os.availableParallelism()} RealMemory=${Math.floor(os.totalmem() / 2 ** 20) - 256}`;
  return `${line.replace(/^NodeName=\S+/, 'NodeName=localhost NodeAddr=127.0.0.1')} State=UNKNOWN`;
}

/** A Slurm already answering here (the machine's own configuration), which is then used as it is. */
function runningCluster(): SlurmCluster | undefined {
  const conf = process.env.SLURM_CONF ?? '/etc/slurm/slurm.conf';
  if (!fs.existsSync(conf)) return undefined;
  const r = spawnSync('sinfo', ['-h', '-o', '%P %T'], { env: { ...process.env, SLURM_CONF: conf }, encoding: 'utf8', timeout: 5_000 });
  const lines = r.status === 0 ? r.stdout.trim().split('\n') : [];
  // The default partition is starred; one with an idle or mixed node can run the tests' jobs.
  const usable = lines.map((l) => l.split(' ')).find(([, state]) => state === 'idle' || state === 'mix');
  if (!usable) return undefined;
  const partition = (lines.map((l) => l.split(' ')[0]!).find((p) => p.endsWith('*')) ?? usable[0]!).replace(/\*$/, '');
  return { env: { SLURM_CONF: conf }, partition, dir: path.dirname(conf), log: () => '', stop: async () => {} };
}

export async function startSlurm(): Promise<SlurmCluster> {
  const why = slurmUnavailable();
  if (why) throw new Error(why);
  const running = runningCluster();
  if (running) return running;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-slurm-'));
  for (const d of ['state', 'spool', 'log']) fs.mkdirSync(path.join(dir, d));
  const [ctldPort, dPort] = [await freePort(), await freePort()];
  const conf = path.join(dir, 'slurm.conf');
  fs.writeFileSync(
    conf,
    [
      `ClusterName=sprocket${process.pid}`,
      'SlurmctldHost=localhost',
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      'CredType=cred/munge',
      'MpiDefault=none',
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'SchedulerType=sched/backfill',
      // Without these a job waits ~2 s for the batch scheduler (environment.md §1.2).
      'SchedulerParameters=batch_sched_delay=0,sched_min_interval=0',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core',
      'ReturnToService=2',
      // A cancelled job's processes get SIGKILL this long after SIGTERM.
      'KillWait=5',
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/log/slurmctld.log`,
      `SlurmdLogFile=${dir}/log/slurmd.log`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${dPort}`,
      nodeLine(),
      'PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP',
      '',
    ].join('\n'),
  );
  const env = { SLURM_CONF: conf };
  const daemonEnv = { ...process.env, ...env };
  const started: ChildProcess[] = [];
  let mungeStarted = false;
  const stop = async () => {
    // Jobs still on the private cluster first: their slurmstepd would outlive slurmd otherwise.
    if (started.length) {
      spawnSync('scancel', ['--me', '--full'], { env: daemonEnv, stdio: 'ignore' });
      await until(
        () => {
          const r = spawnSync('squeue', ['--me', '-h', '-o', '%i'], { env: daemonEnv, encoding: 'utf8' });
          return r.status !== 0 || r.stdout.trim() === '';
        },
        20_000,
        'the jobs to end',
      ).catch(() => {});
    }
    for (const p of started.reverse()) await ended(p);
    started.length = 0;
    if (mungeStarted) {
      const pid = Number(fs.readFileSync('/run/munge/munged.pid', 'utf8').trim());
      if (pid > 0) process.kill(pid, 'SIGTERM');
      await until(() => !fs.existsSync(MUNGE_SOCKET), 10_000, 'munged to stop').catch(() => {});
      mungeStarted = false;
    }
  };
  try {
    if (!mungeWorks()) {
      fs.mkdirSync('/run/munge', { recursive: true });
      spawnSync('chown', ['munge:munge', '/run/munge']);
      if (!fs.existsSync('/etc/munge/munge.key')) {
        fs.writeFileSync('/etc/munge/munge.key', Buffer.from(Array.from({ length: 1024 }, () => Math.floor(Math.random() * 256))), {
          mode: 0o400,
        });
        spawnSync('chown', ['munge:munge', '/etc/munge/munge.key']);
      }
      const r = spawnSync('runuser', ['-u', 'munge', '--', 'munged'], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`munged did not start: ${r.stderr}`);
      mungeStarted = true;
      await until(mungeWorks, 10_000, 'munge to answer');
    }
    // Foreground (-D) children: they end with the test process rather than lingering as daemons.
    started.push(spawn('slurmctld', ['-D', '-f', conf], { env: daemonEnv, stdio: 'ignore' }));
    started.push(spawn('slurmd', ['-D', '-N', 'localhost', '-f', conf], { env: daemonEnv, stdio: 'ignore' }));
    const idle = () => {
      const r = spawnSync('sinfo', ['-h', '-o', '%T'], { env: daemonEnv, encoding: 'utf8' });
      return r.status === 0 && r.stdout.trim() === 'idle';
    };
    await until(idle, 30_000, 'the node to be idle');
  } catch (err) {
    const log = fs.existsSync(`${dir}/log/slurmctld.log`) ? fs.readFileSync(`${dir}/log/slurmctld.log`, 'utf8').slice(-2000) : '';
    await stop();
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  return {
    env,
    partition: 'debug',
    dir,
    log: () => {
      try {
        return fs.readFileSync(`${dir}/log/slurmctld.log`, 'utf8');
      } catch {
        return '';
      }
    },
    stop,
  };
}
