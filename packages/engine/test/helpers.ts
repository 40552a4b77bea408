import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunIO, RunSpec } from '../src/executors/executor.js';

export { processesWith } from '../../../test-fixtures/processes.js';

/** Real gears written for these tests, one folder each (manifest.json + run). */
export const GEARS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'gears');
export const GEAR_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function tempDir(prefix = 'sprocket-engine-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A job folder as layout builds it, for running executors directly. */
export function jobDirFor(gear: string, configJson: unknown, inputs: Record<string, { name: string; content: string }> = {}): string {
  const dir = path.join(tempDir(), 'job');
  fs.cpSync(path.join(GEARS_DIR, gear), dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(configJson));
  fs.mkdirSync(path.join(dir, 'input'));
  fs.mkdirSync(path.join(dir, 'output'));
  fs.mkdirSync(path.join(dir, 'work'));
  for (const [input, file] of Object.entries(inputs)) {
    fs.mkdirSync(path.join(dir, 'input', input));
    fs.writeFileSync(path.join(dir, 'input', input, file.name), file.content);
  }
  return dir;
}

export function runSpec(jobDir: string, over: Partial<RunSpec> = {}): RunSpec {
  return {
    jobDir,
    jobId: `t${Math.random().toString(36).slice(2, 10)}`,
    command: ['bash', '-c', './run'],
    env: { PATH: GEAR_PATH },
    networking: false,
    resources: {},
    image: null,
    ...over,
  };
}

/** Collects a run's output as text. */
export function capture(): RunIO & { out: () => string; err: () => string; waitFor(text: string): Promise<void> } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const waiters: { text: string; resolve: () => void }[] = [];
  const check = () => {
    const text = Buffer.concat(out).toString();
    for (const w of waiters.splice(0)) {
      if (text.includes(w.text)) w.resolve();
      else waiters.push(w);
    }
  };
  return {
    stdout: (c) => {
      out.push(c);
      check();
    },
    stderr: (c) => err.push(c),
    out: () => Buffer.concat(out).toString(),
    err: () => Buffer.concat(err).toString(),
    waitFor: (text) =>
      new Promise((resolve) => {
        waiters.push({ text, resolve });
        check();
      }),
  };
}

/** Polls until the check holds or the deadline passes; returns whether it held. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function commandWorks(argv: string[]): boolean {
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  return r.status === 0;
}

/** The gear folder packed the way users upload it: a tar.gz of the folder's content. */
export function packGear(gear: string, dir = GEARS_DIR): Buffer {
  const r = spawnSync('tar', ['-czf', '-', '-C', path.join(dir, gear), '.'], { maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
  return r.stdout;
}
