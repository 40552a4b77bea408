import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const PYTHON = '/usr/bin/python3';

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program without blocking this process: the test server lives in it, and a synchronous
 * child would stall every request the child (or the engine) makes meanwhile.
 */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    p.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** `sprocket <args>` (packages/cli) as a user runs it, logged in through SPROCKET_API_KEY. */
export async function sprocket(key: string, args: string[], home: string): Promise<Ran> {
  const r = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'packages', 'cli', 'src', 'main.ts'), ...args], {
    env: { ...process.env, SPROCKET_API_KEY: key, HOME: home, XDG_CONFIG_HOME: '', NO_COLOR: '1' },
  });
  if (r.status !== 0) throw new Error(`sprocket ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Runs a Python script with Debian's python3 and parses the JSON it prints. */
export async function python<T>(script: string, args: string[]): Promise<T> {
  const r = await run(PYTHON, [script, ...args]);
  if (r.status !== 0) throw new Error(`${path.basename(script)} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout) as T;
}
