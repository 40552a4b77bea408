import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHierarchy } from '../../server/test/helpers.js';
import { BIN, Cli, eventually, startTestServer, type TestServer, tempDir } from './helpers.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

/** A real terminal: a detached tmux session on a private socket, driven with send-keys. */
class Terminal {
  private readonly socket = `sprocket-cli-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  private n = 0;

  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
  }

  /** Starts `sprocket <args>` in a new window; the shell prints EXIT=<code> when it ends. */
  start(cli: Cli, args: string[], cwd: string): string {
    const name = `w${this.n++}`;
    const env = `env -i HOME=${cli.home} PATH=${process.env.PATH} TERM=xterm-256color LANG=C.UTF-8`;
    const quoted = args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const command = `cd '${cwd}' && ${env} '${process.execPath}' '${BIN}' ${quoted}; echo EXIT=$?; sleep 600`;
    if (this.n === 1) this.tmux('new-session', '-d', '-s', this.sessionName(), '-n', name, '-x', '150', '-y', '40', command);
    else this.tmux('new-window', '-t', `${this.sessionName()}:`, '-n', name, command);
    return name;
  }

  private sessionName(): string {
    return 'cli';
  }

  screen(win: string): string {
    return this.tmux('capture-pane', '-p', '-t', `${this.sessionName()}:${win}`);
  }

  async waitFor(win: string, text: string | RegExp, timeoutMs = 20_000): Promise<string> {
    let last = '';
    const ok = await eventually(
      () => {
        last = this.screen(win);
        return typeof text === 'string' ? last.includes(text) : text.test(last);
      },
      timeoutMs,
      100,
    );
    if (!ok) throw new Error(`terminal never showed ${text}; screen:\n${last}`);
    return last;
  }

  type(win: string, text: string): void {
    this.tmux('send-keys', '-t', `${this.sessionName()}:${win}`, '-l', text);
    this.tmux('send-keys', '-t', `${this.sessionName()}:${win}`, 'Enter');
  }

  close(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server']);
  }
}

describe.skipIf(!hasTmux)('the CLI in a real terminal (tmux)', () => {
  let s: TestServer;
  let cli: Cli;
  const term = new Terminal();
  beforeAll(async () => {
    s = await startTestServer();
    await makeHierarchy(s.admin, 'lab');
    cli = new Cli();
    await cli.login(s.admin.key!);
  });
  afterAll(async () => {
    term.close();
    await s?.stop();
  });

  it('gear create asks for label, author (your name by default) and category; asks before overwriting', async () => {
    const dir = tempDir();
    const w = term.start(cli, ['gear', 'create'], dir);
    await term.waitFor(w, 'Gear label (e.g. "My Analysis"):');
    term.type(w, 'Terminal Made Gear');
    await term.waitFor(w, 'Author [Site Admin]:');
    term.type(w, '');
    await term.waitFor(w, 'Category (converter, utility, qa, classifier, analysis) [utility]:');
    term.type(w, 'nonsense');
    await term.waitFor(w, 'Category must be one of');
    term.type(w, 'qa');
    const screen = await term.waitFor(w, 'EXIT=');
    expect(screen).toContain('Created gear terminal-made-gear');
    expect(screen).toContain('EXIT=0');
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({
      name: 'terminal-made-gear',
      label: 'Terminal Made Gear',
      author: 'Site Admin',
      custom: { 'gear-builder': { category: 'qa' } },
    });

    const again = term.start(cli, ['gear', 'create'], dir);
    await term.waitFor(again, 'Overwrite? (yes/no) [no]:');
    term.type(again, '');
    const refused = await term.waitFor(again, 'EXIT=');
    expect(refused).toContain('error: nothing written: the existing gear files were kept');
    expect(refused).toContain('EXIT=1');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')).label).toBe('Terminal Made Gear');
  });

  it('transfers draw a progress bar with rate and ETA on a terminal (and none in a pipe)', async () => {
    const file = path.join(tempDir(), 'big.bin');
    fs.writeFileSync(file, randomBytes(3 << 20));
    const w = term.start(cli, ['upload', 'lab/Project', file, '--limit-rate', '1M'], tempDir());
    const during = await term.waitFor(w, /Uploading .* \d+% \| [\d.]+ MB\/3\.1 MB \| [\d.]+ (kB|MB)\/s \| ETA \d+s/);
    expect(during).not.toContain('EXIT=');
    const done = await term.waitFor(w, 'EXIT=0');
    expect(done).toContain('100% | 3.1 MB/3.1 MB');
    expect(done).toContain('Uploaded big.bin (3.1 MB, version 1) to lab/Project');
    const piped = await cli.run(['download', 'lab/Project/files/big.bin', '-o', path.join(tempDir(), 'x.bin')]);
    expect(piped.stderr).toBe('');
  });
});
