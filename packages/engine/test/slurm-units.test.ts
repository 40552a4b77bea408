import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadEngineConfig } from '../src/config.js';
import { batchScript, sbatchArgs } from '../src/executors/slurm.js';
import { parseScontrolJob, parseSqueueLine } from '../src/slurm/commands.js';
import { loadSlurmConfig } from '../src/slurm/config.js';
import { readSubmitted, stateFilePath, writeSubmitted } from '../src/slurm/state-file.js';
import { endedReason, isLive, liveSummary, worthResubmitting } from '../src/slurm/states.js';
import { stepExecArgv } from '../src/slurm/tracker.js';
import { tempDir } from './helpers.js';

/** The slurm mode's pieces that need no cluster: parsing Slurm's answers, its states in words, sbatch options. */

describe('Slurm output parsing', () => {
  it('reads scontrol show job -o, values with spaces included', () => {
    const f = parseScontrolJob(
      'JobId=42 JobName=sprocket-abc UserId=root(0) JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15 TimeLimit=00:02:00 Command=/a b/job.sh WorkDir=/tmp StdOut=/x/slurm-42.out',
    );
    expect(f).toMatchObject({
      JobId: '42',
      JobName: 'sprocket-abc',
      JobState: 'TIMEOUT',
      Reason: 'TimeLimit',
      ExitCode: '0:15',
      TimeLimit: '00:02:00',
      Command: '/a b/job.sh',
      WorkDir: '/tmp',
    });
  });

  it('reads squeue lines, a comment holding the separator included, and skips anything else', () => {
    expect(parseSqueueLine('42|sprocket-abc|PENDING|Resources||sprocket-engine:1|2')).toEqual({
      id: '42',
      name: 'sprocket-abc',
      state: 'PENDING',
      reason: 'Resources',
      nodes: '',
      comment: 'sprocket-engine:1|2',
    });
    expect(parseSqueueLine('squeue: error: Invalid user')).toBeUndefined();
    expect(parseSqueueLine('')).toBeUndefined();
  });
});

describe("Slurm's states in Sprocket's words", () => {
  it('says where a live job stands', () => {
    expect(liveSummary('PENDING', 'Resources')).toBe('queued on cluster, reason: Resources');
    expect(liveSummary('PENDING', 'None')).toBe('queued on cluster');
    expect(liveSummary('RUNNING', 'None', 'node7')).toBe('running on cluster node node7');
    expect(isLive('COMPLETING')).toBe(true);
    expect(isLive('TIMEOUT')).toBe(false);
  });

  it('gives a readable reason for each way the cluster ends a job', () => {
    expect(endedReason('7', { state: 'COMPLETED', exitCode: '0:0' })).toBeUndefined();
    expect(endedReason('7', { state: 'TIMEOUT', timeLimit: '00:02:00' })).toBe(
      'the job exceeded its walltime on the cluster (time limit 00:02:00) and Slurm stopped it (Slurm job 7: TIMEOUT)',
    );
    expect(endedReason('7', { state: 'OUT_OF_MEMORY' })).toMatch(/^the job ran out of memory on the cluster/);
    expect(endedReason('7', { state: 'NODE_FAIL' })).toBe('the cluster node running the job failed (Slurm job 7: NODE_FAIL)');
    expect(endedReason('7', { state: 'PREEMPTED' })).toMatch(/preempted/);
    expect(endedReason('7', { state: 'CANCELLED', cancelledBy: 'by 1000' })).toBe(
      'the job was cancelled on the cluster by 1000 (Slurm job 7: CANCELLED)',
    );
    expect(endedReason('7', { state: 'CANCELLED' })).toMatch(/cancelled on the cluster \(scancel, not by Sprocket\)/);
    expect(endedReason('7', { state: 'FAILED', exitCode: '3:0' })).toBe(
      'the job failed on the cluster with exit code 3 (Slurm job 7: FAILED)',
    );
    expect(endedReason('7', { state: 'FAILED', exitCode: '0:9' })).toMatch(/killed on the cluster by signal 9/);
    expect(worthResubmitting({ state: 'NODE_FAIL' })).toBe(true);
    expect(worthResubmitting({ state: 'PREEMPTED' })).toBe(true);
    // The step was killed (its own report never came): the node, not the gear, ended it.
    expect(worthResubmitting({ state: 'FAILED', exitCode: '0:9' })).toBe(true);
    // An exit code is an answer from the step; a timeout, memory or a cancel is a verdict on the job.
    expect(worthResubmitting({ state: 'FAILED', exitCode: '3:0' })).toBe(false);
    expect(worthResubmitting({ state: 'FAILED' })).toBe(false);
    for (const state of ['TIMEOUT', 'OUT_OF_MEMORY', 'CANCELLED', 'COMPLETED'])
      expect(worthResubmitting({ state, exitCode: '0:9' })).toBe(false);
  });
});

describe('sbatch options and the batch script', () => {
  const config = loadSlurmConfig({
    SPROCKET_SLURM_PARTITION: 'gpu',
    SPROCKET_SLURM_ACCOUNT: 'lab',
    SPROCKET_SLURM_QOS: 'short',
    SPROCKET_SLURM_SBATCH_FLAGS: '--constraint=avx2 --exclusive',
  });

  it('turns the resource request and the site settings into options, and names the job', () => {
    const args = sbatchArgs({
      jobId: 'abc',
      resources: { cpu: 1.5, memory: '2G', gpu: 1, walltime: 90 },
      config,
      outputFile: '/w/slurm-%j.out',
      comment: 'sprocket-engine:x',
    });
    expect(args).toEqual(
      expect.arrayContaining([
        '--parsable',
        '--job-name=sprocket-abc',
        '--comment=sprocket-engine:x',
        '--output=/w/slurm-%j.out',
        '--partition=gpu',
        '--account=lab',
        '--qos=short',
        '--cpus-per-task=2',
        `--mem=${2048 + 256}M`,
        '--gres=gpu:1',
        '--time=3',
        '--no-requeue',
      ]),
    );
    expect(args.slice(-2)).toEqual(['--constraint=avx2', '--exclusive']);
    expect(sbatchArgs({ jobId: 'abc', resources: {}, config: loadSlurmConfig({}), outputFile: 'o', comment: 'c' }).join(' ')).not.toMatch(
      /--mem|--time|--gres|--cpus|--partition/,
    );
  });

  it('quotes the step command line for sh, and carries no credential', () => {
    const script = batchScript(['/usr/bin/node', "/opt/it's/slurm-step.js", '--job', 'abc']);
    expect(script).toBe(
      "#!/bin/sh\n# Sprocket engine: runs one job on this node, talking to the API (slurm-step).\nexec '/usr/bin/node' '/opt/it'\\''s/slurm-step.js' '--job' 'abc'\n",
    );
  });

  it('resolves a bare loader name for the step, which starts in another folder', () => {
    const argv = stepExecArgv(['--import', 'tsx', '--inspect=9229', '--max-old-space-size=100']);
    expect(argv[0]).toBe('--import');
    expect(argv[1]).toMatch(/^file:\/\/.*tsx/);
    expect(argv.slice(2)).toEqual(['--max-old-space-size=100']);
  });

  it('refuses settings that cannot work, naming them', () => {
    expect(() => loadSlurmConfig({ SPROCKET_SLURM_EXECUTOR: 'slurm' })).toThrow(
      /SPROCKET_SLURM_EXECUTOR must be one of auto, bwrap, process, podman/,
    );
    expect(() => loadSlurmConfig({ SPROCKET_SLURM_MAX_SUBMITTED: '0' })).toThrow(/SPROCKET_SLURM_MAX_SUBMITTED must be a positive integer/);
    expect(() => loadSlurmConfig({ SPROCKET_SLURM_SBATCH_FLAGS: '--x y' })).toThrow(/SPROCKET_SLURM_SBATCH_FLAGS .* got "y"/);
    const engine = loadEngineConfig(['--key', 'localhost:8080:secret', '--executor', 'slurm'], { SPROCKET_SLURM_MAX_SUBMITTED: '500' });
    expect(engine.slurm).toMatchObject({ maxSubmitted: 500, innerExecutor: 'bwrap' });
    expect(loadEngineConfig(['--key', 'localhost:8080:secret'], {}).slurm).toBeUndefined();
  });
});

describe('the state file of submitted jobs', () => {
  it('round-trips, is private to the engine, and replaces the old list whole', () => {
    const dir = tempDir();
    expect(readSubmitted(dir)).toEqual([]);
    const job = { job_id: 'j1', slurm_id: '42', submitted: '2026-12-04T00:00:00Z', resubmits: 0, resources: { cpu: 1 } };
    writeSubmitted(dir, [job]);
    expect(readSubmitted(dir)).toEqual([job]);
    expect(fs.statSync(stateFilePath(dir)).mode & 0o077).toBe(0);
    writeSubmitted(dir, []);
    expect(readSubmitted(dir)).toEqual([]);
    expect(fs.readdirSync(path.dirname(stateFilePath(dir)))).toEqual(['submitted.json']);
  });
});
