/**
 * `npm start`: the API server and one engine beside it, compiled (`npm run build`, which
 * `npm run setup` runs) and run by plain `node`: no TypeScript loader in their memory or start.
 * Both run as child processes in their own process groups that die with this launcher (PR_SET_PDEATHSIG), so Ctrl-C reaches only this launcher, which then stops them in order: the engine
 * first (its running jobs get their grace period to finish and upload while the API is still up),
 * then the server. A second Ctrl-C stops everything at once.
 *
 * SPROCKET_START_ENGINE=false runs the server alone (engines elsewhere). The engine's settings
 * (SPROCKET_ENGINE_CONCURRENCY, SPROCKET_EXECUTOR …) pass through; its work folder defaults to
 * <data dir>/engine.
 *
 * Once the API answers, the gears shipped in gears/ are uploaded if the site lacks their version
 * (scripts/install-gears.ts, with the site admin key of <data dir>/admin-api-key);
 * SPROCKET_INSTALL_GEARS=false leaves them out.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../packages/server/src/config.js';
import { ENGINE_ENTRY, SERVER_ENTRY, serverArgs } from './entries.js';
import { installShippedGears, keyForUrl } from './install-gears.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const config = loadConfig();
const keyFile = path.join(config.dataDir, 'engine-api-key');
const off = (name: string) => ['0', 'false', 'no'].includes((process.env[name] ?? 'true').toLowerCase());
const withEngine = !off('SPROCKET_START_ENGINE');
const withGears = !off('SPROCKET_INSTALL_GEARS');

let stopping = false;
let server: ChildProcess | undefined;
let engine: ChildProcess | undefined;

/**
 * Each child is started through `setpriv --pdeathsig KILL` (util-linux), which has the kernel kill
 * it the moment this launcher dies, however it dies (kill -9 included): a server left behind would
 * hold the port and keep acknowledging uploads. Its own process group still keeps Ctrl-C away from
 * it, so the launcher can stop the engine before the server.
 */
const pdeathsig = spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore' }).status === 0;
if (!pdeathsig) console.error('[start] setpriv (util-linux) is missing: the server and engine would outlive a killed launcher');

/** The compiled entry of a package; a checkout not built yet is told how, not started from sources. */
function compiled(entry: string): string {
  if (!fs.existsSync(entry)) {
    console.error(`[start] ${path.relative(root, entry)} is missing: run 'npm run build' first`);
    process.exit(1);
  }
  return entry;
}
const serverArgv = serverArgs(compiled(SERVER_ENTRY));
const engineArgv = [compiled(ENGINE_ENTRY)];

function run(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  // The children resolve the workspace packages to their dist/ too, whatever condition (tests set
  // one through NODE_OPTIONS) this launcher was started with.
  const childEnv = { ...env, NODE_OPTIONS: withoutSourceCondition(env.NODE_OPTIONS) };
  const argv = [process.execPath, ...args];
  const full = pdeathsig ? ['setpriv', '--pdeathsig', 'KILL', '--', ...argv] : argv;
  return spawn(full[0]!, full.slice(1), { stdio: 'inherit', env: childEnv, detached: true, cwd: process.cwd() });
}

function withoutSourceCondition(options: string | undefined): string | undefined {
  const rest = (options ?? '').split(/\s+/).filter((o) => o && o !== '--conditions=@sprocket/source');
  return rest.length ? rest.join(' ') : undefined;
}

/** Whether something already listens where the server would: a second `npm start`, say. */
function portBusy(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRINUSE' ? err : undefined));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
}

function exited(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? 1);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for the API to answer and the engine key to be there (the server writes it at first start). */
async function serverUp(): Promise<boolean> {
  let answeredAt: number | undefined;
  for (let i = 0; !stopping; i++) {
    if (!server || server.exitCode !== null || server.signalCode !== null) return false;
    if (answeredAt === undefined) {
      try {
        const res = await fetch(`${config.publicUrl}/version`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) answeredAt = Date.now();
      } catch {
        // not listening yet
      }
    }
    if (answeredAt !== undefined) {
      if (fs.existsSync(keyFile)) return true;
      if (Date.now() - answeredAt > 10_000) return false;
    }
    // Start-up only: the server takes a moment to open its database and listen.
    await sleep(i < 50 ? 100 : 500);
  }
  return false;
}

async function superviseEngine(): Promise<void> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SPROCKET_API_KEY_FILE: keyFile,
    SPROCKET_ENGINE_DIR: process.env.SPROCKET_ENGINE_DIR ?? path.join(config.dataDir, 'engine'),
  };
  delete env.SPROCKET_API_KEY;
  let restarts = 0;
  while (!stopping) {
    const startedAt = Date.now();
    engine = run(engineArgv, env);
    const code = await exited(engine);
    if (stopping) return;
    // 2: the engine's configuration is wrong, which a restart will not fix.
    if (code === 2) {
      console.error(`[start] the engine refused its configuration (exit 2); the server keeps running without it`);
      return;
    }
    restarts = Date.now() - startedAt > 60_000 ? 0 : restarts + 1;
    const delay = Math.min(30_000, 1000 * 2 ** Math.min(restarts, 5));
    console.error(`[start] the engine exited (code ${code}); restarting it in ${delay / 1000} s`);
    await sleep(delay);
  }
}

/** Uploads the shipped gears the site lacks; a failure is reported, never fatal to the server. */
async function installGears(): Promise<void> {
  const adminKeyFile = path.join(config.dataDir, 'admin-api-key');
  if (!fs.existsSync(adminKeyFile)) {
    console.error(
      `[start] ${adminKeyFile} is gone, so the shipped gears were not checked; install them with 'npx tsx scripts/install-gears.ts --key <admin key>'`,
    );
    return;
  }
  try {
    const apiKey = keyForUrl(fs.readFileSync(adminKeyFile, 'utf8'), config.publicUrl);
    // A Ctrl-C during the upload is no failure worth reporting.
    const r = await installShippedGears({ apiKey, log: (m) => stopping || console.log(`[start] ${m}`) });
    if (r.present.length)
      console.log(`[start] shipped gears already installed: ${r.present.map((g) => `${g.name} ${g.version}`).join(', ')}`);
  } catch (e) {
    if (!stopping) console.error(`[start] the shipped gears could not be installed: ${(e as Error).message}`);
  }
}

async function shutdown(): Promise<void> {
  if (stopping) {
    // Second Ctrl-C: no more waiting.
    for (const child of [engine, server]) if (child?.pid && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
    return;
  }
  stopping = true;
  if (engine?.pid && engine.exitCode === null) {
    engine.kill('SIGTERM');
    await exited(engine);
  }
  if (server?.pid && server.exitCode === null) {
    server.kill('SIGTERM');
    await exited(server);
  }
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown());
// Should this launcher itself die, its children go too rather than linger.
process.on('exit', () => {
  for (const child of [engine, server]) if (child?.pid && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

if (config.port !== 0 && (await portBusy(config.host, config.port))) {
  console.error(
    `[start] port ${config.port} on ${config.host} is already in use (another Sprocket still running?): stop it, or choose another port with SPROCKET_PORT`,
  );
  process.exit(1);
}

server = run(serverArgv, process.env);
const serverDone = exited(server).then((code) => {
  if (!stopping) {
    console.error(`[start] the server exited (code ${code}); stopping`);
    void shutdown();
  }
  return code;
});
const up = await serverUp();
if (up && withGears) void installGears();
if (withEngine && up) void superviseEngine();
else if (withEngine && !stopping && !fs.existsSync(keyFile)) console.error(`[start] ${keyFile} was not written; no engine started`);
const code = await serverDone;
if (engine) await exited(engine);
process.exit(code);
