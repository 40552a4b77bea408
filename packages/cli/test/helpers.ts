import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/helpers.js';

export { startTestServer, type TestServer };

/** The CLI from its sources (the compiled bin is pack-check's to test). */
export const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sprocket-source.js');

const made: string[] = [];
// Registered while the importing test file is collected: its folders go when its tests are done.
afterAll(() => {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = 'sprocket-cli-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The `sprocket` command as a user runs it: a child process with its own HOME (so the stored key
 * is the test's), no inherited key or debug settings.
 */
export class Cli {
  readonly home = tempDir('sprocket-cli-home-');

  constructor(readonly env: Record<string, string> = {}) {}

  private environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH, HOME: this.home, LANG: 'C.UTF-8', ...this.env, ...extra };
  }

  spawn(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): ChildProcess {
    return spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: this.environment(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  }

  run(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
    const child = this.spawn(args, opts);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    return new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  /** Runs and expects success; a failure shows what the command printed. */
  async ok(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<string> {
    const r = await this.run(args, opts);
    if (r.code !== 0) throw new Error(`sprocket ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  }

  /** Runs and expects failure with exactly one line on stderr; returns that line. */
  async fails(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<string> {
    const r = await this.run(args, opts);
    if (r.code === 0) throw new Error(`sprocket ${args.join(' ')} succeeded, expected a failure\nstdout: ${r.stdout}`);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    if (lines.length !== 1) throw new Error(`sprocket ${args.join(' ')}: expected one error line, got:\n${r.stderr}`);
    return lines[0]!;
  }

  async json<T = any>(args: string[], opts: { cwd?: string } = {}): Promise<T> {
    return JSON.parse(await this.ok([...args, '--json'], opts)) as T;
  }

  login(key: string): Promise<string> {
    return this.ok(['login', key]);
  }
}

/** Polls until the check holds; false when the deadline passes first. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}
