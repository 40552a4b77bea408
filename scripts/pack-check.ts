/**
 * CI (`.ci/run`, after `npm test`): the packages as a user gets them. `npm pack` of @sprocket/types,
 * sdk, engine and cli; then, in a temporary folder outside the checkout (so nothing resolves to the
 * workspace's node_modules or sources):
 *
 *   1. an empty project installs the types and SDK tarballs and runs the SDK tutorial
 *      (examples/batch-run-gears.ts, transpiled to plain JavaScript) with `node`;
 *   2. `npm install -g --prefix <tmp>` of the tarballs puts `sprocket` on the PATH, which then logs
 *      in with a key, lists, uploads a file and downloads it back, byte for byte.
 *
 * Both talk to a server and an engine started from the compiled build (`npm run build`). A package
 * that imports something it does not declare fails here: its tarball installs only its declared
 * dependencies. Exit code 0 only if every step passed.
 *
 *   npx tsx scripts/pack-check.ts [--keep]     (--keep leaves the temporary folder for a look)
 */
import { type SpawnOptions, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@sprocket/sdk';
import { transform } from 'esbuild';
import { freePort, type Spawned, spawnCaptured } from '../test-fixtures/processes.js';
import { newUid, syntheticSeries } from '../test-fixtures/synthetic-dicom.js';
import { zipFiles } from '../test-fixtures/zip.js';
import { buildGears } from './build-gears.js';
import { ENGINE_ENTRY, serverArgs } from './entries.js';
import { installShippedGears } from './install-gears.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PACKED = ['types', 'sdk', 'engine', 'cli'];
const keep = process.argv.includes('--keep');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sprocket-pack-'));
if (path.relative(root, tmp).split(path.sep)[0] !== '..') throw new Error(`pack-check: ${tmp} is inside the checkout`);
const children: Spawned[] = [];

/**
 * What the installed packages run with: no NODE_OPTIONS (a `--conditions=@sprocket/source` from a
 * test run would point them at sources they do not ship), HOME in the temporary folder (the CLI's
 * stored key), and the temporary prefix's bin first on the PATH.
 */
const cleanEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: path.join(tmp, 'home'),
    XDG_CONFIG_HOME: '',
    PATH: `${path.join(tmp, 'prefix', 'bin')}:${process.env.PATH}`,
  };
  for (const name of ['NODE_OPTIONS', 'SPROCKET_API_KEY', 'FW_KEY', 'SPROCKET_DATABASE_URL']) delete env[name];
  return { ...env, ...extra };
};

function step(title: string): void {
  console.log(`pack-check: ${title}`);
}

/** Runs a command to its end; a non-zero exit fails the check with what it printed. */
function sh(cmd: string, args: string[], opts: SpawnOptions = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, cwd: tmp, env: cleanEnv(), ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}\n${r.stdout}${r.stderr}`);
  return String(r.stdout);
}

/** The packages a built file loads by name: static and dynamic imports, require and createRequire calls. */
function bareImports(code: string): Set<string> {
  const names = new Set<string>();
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bcreateRequire\w*\([^)]*\)\s*\(\s*|\bimport\s+)(["'])([@\w][\w@./-]*)\1/g;
  for (const m of code.matchAll(re)) {
    const spec = m[2]!;
    if (spec.startsWith('node:')) continue;
    names.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
  }
  return names;
}

/**
 * Every package an installed package's dist/ loads is one it declares and one Node finds from where
 * it is installed. Checked on the files rather than by running them, so a dependency only a rarely
 * used command loads (the gear manifest validator's ajv) cannot slip through.
 */
function checkDependencies(pkgDir: string, stopAt: string): void {
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as {
    name: string;
    dependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
  };
  const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]);
  const files = fs.readdirSync(path.join(pkgDir, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
  const used = new Set(files.flatMap((f) => [...bareImports(fs.readFileSync(path.join(pkgDir, 'dist', f), 'utf8'))]));
  const builtin = new Set(module.builtinModules);
  const problems: string[] = [];
  for (const name of used) {
    if (builtin.has(name) || name === pkg.name) continue;
    if (!declared.has(name)) problems.push(`${name} is imported but not in its dependencies`);
    else if (!installedFrom(pkgDir, name, stopAt)) problems.push(`${name} is not installed where Node looks for it`);
  }
  if (problems.length) throw new Error(`pack-check: ${pkg.name}: ${problems.join('; ')}`);
}

/** Node's lookup: node_modules/<name> in the package's folder and each one above it, up to `stopAt`. */
function installedFrom(dir: string, name: string, stopAt: string): boolean {
  for (let d = dir; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'node_modules', name, 'package.json'))) return true;
    if (d === stopAt || d === path.dirname(d)) return false;
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`pack-check: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main(): Promise<void> {
  for (const p of ['server', 'engine', ...PACKED]) {
    if (!fs.existsSync(path.join(root, 'packages', p, 'dist', 'index.js')))
      throw new Error(`pack-check: packages/${p}/dist is missing: run 'npm run build' first`);
  }

  step('npm pack');
  const tarballs = path.join(tmp, 'tarballs');
  fs.mkdirSync(tarballs);
  fs.mkdirSync(path.join(tmp, 'home'));
  sh('npm', ['pack', '--silent', '--pack-destination', tarballs, ...PACKED.flatMap((p) => ['-w', `packages/${p}`])], { cwd: root });
  const tgz = (p: string) =>
    path.join(tarballs, `sprocket-${p}-${JSON.parse(fs.readFileSync(path.join(root, 'packages', p, 'package.json'), 'utf8')).version}.tgz`);
  for (const p of PACKED) {
    const listing = sh('tar', ['tzf', tgz(p)]);
    // Sources and build settings stay home: an import of one would only work in the checkout.
    const stray = listing.split('\n').filter((f) => /^package\/(src|test)\//.test(f) || f.endsWith('tsconfig.build.json'));
    if (stray.length) throw new Error(`pack-check: ${path.basename(tgz(p))} ships ${stray.join(', ')}`);
  }

  step('server and engine from the compiled build');
  const port = await freePort();
  const data = path.join(tmp, 'data');
  const serverEnv = cleanEnv({ SPROCKET_DATA_DIR: data, SPROCKET_PORT: String(port), SPROCKET_HOST: '127.0.0.1' });
  const server = spawnCaptured(process.execPath, serverArgs(), { env: serverEnv, cwd: tmp });
  children.push(server);
  const keyFile = (name: string) => path.join(data, name);
  const adminKey = await waitFor('the server', () =>
    server.proc.exitCode !== null
      ? Promise.reject(new Error(`server exited:\n${server.output()}`))
      : fs.existsSync(keyFile('engine-api-key'))
        ? fs.readFileSync(keyFile('admin-api-key'), 'utf8').trim()
        : undefined,
  );
  const engine = spawnCaptured(process.execPath, [ENGINE_ENTRY], {
    cwd: tmp,
    env: cleanEnv({
      SPROCKET_API_KEY_FILE: keyFile('engine-api-key'),
      SPROCKET_ENGINE_DIR: path.join(tmp, 'engine'),
      SPROCKET_ENGINE_CONCURRENCY: '2',
      SPROCKET_LOG_LEVEL: 'warn',
    }),
  });
  children.push(engine);

  // The tutorial's starting point, set up with the checkout's SDK: its gears, and a project of
  // DICOM series as its upload-data notebook leaves it.
  const fw = new Client(adminKey);
  const gears = ['dcm2niix', 'nifti-qa'];
  await buildGears(gears);
  const installed = await installShippedGears({ apiKey: adminKey, only: gears });
  if (installed.failed.length)
    throw new Error(`pack-check: gears not installed: ${installed.failed.map((f) => `${f.gear.name}: ${f.reason}`).join('; ')}`);
  const group = await fw.addGroup({ id: `pack-${Date.now().toString(36)}` });
  const project = await group.addProject({ label: 'Tutorial' });
  const series = path.join(tmp, 'series');
  for (const subjectLabel of ['sub-01', 'sub-02']) {
    const session = await (await project.addSubject({ label: subjectLabel })).addSession({ label: 'ses-01' });
    const acq = await session.addAcquisition({ label: 'T1w MPRAGE' });
    const dir = fs.mkdtempSync(`${series}-`);
    const files = syntheticSeries({
      patientId: subjectLabel,
      studyUid: newUid(),
      seriesUid: newUid(),
      seriesNumber: 1,
      seriesDescription: 'T1w MPRAGE',
      slices: 8,
      seed: subjectLabel.length,
    }).map((b, i) => {
      const f = path.join(dir, `${i}.dcm`);
      fs.writeFileSync(f, b);
      return f;
    });
    await acq.uploadFile(await zipFiles(files, path.join(dir, 'T1w_MPRAGE.dicom.zip')));
  }

  step('SDK: install the tarballs into an empty project and run the tutorial');
  const app = path.join(tmp, 'sdk-app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), `${JSON.stringify({ name: 'tutorial', private: true, type: 'module' }, null, 2)}\n`);
  sh('npm', ['install', '--no-audit', '--no-fund', tgz('types'), tgz('sdk')], { cwd: app });
  const example = fs.readFileSync(path.join(root, 'examples', 'batch-run-gears.ts'), 'utf8');
  for (const p of ['types', 'sdk']) checkDependencies(path.join(app, 'node_modules', '@sprocket', p), tmp);
  const js = await transform(example, { loader: 'ts', format: 'esm', target: 'node20' });
  fs.writeFileSync(path.join(app, 'batch-run-gears.mjs'), js.code);
  const results = path.join(tmp, 'results');
  const tutorial = sh(process.execPath, ['batch-run-gears.mjs', '--project', 'Tutorial', '--results', results], {
    cwd: app,
    env: cleanEnv({ FW_KEY: adminKey }),
  });
  if (!/Done: 2 conversion job\(s\), [1-9]\d* QA job\(s\)/.test(tutorial))
    throw new Error(`pack-check: the tutorial did not convert and check both series:\n${tutorial}\nengine:\n${engine.output()}`);
  const downloaded = fs
    .readdirSync(results, { recursive: true, encoding: 'utf8' })
    .filter((f) => fs.statSync(path.join(results, f)).isFile());
  if (downloaded.length < 2) throw new Error(`pack-check: the tutorial downloaded ${downloaded.length} QA file(s)`);

  step('CLI: npm install -g --prefix of the tarballs, then a round trip');
  const prefix = path.join(tmp, 'prefix');
  sh('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', ...PACKED.map(tgz)]);
  for (const p of PACKED) checkDependencies(path.join(prefix, 'lib', 'node_modules', '@sprocket', p), tmp);
  const which = sh('sh', ['-c', 'command -v sprocket']).trim();
  if (which !== path.join(prefix, 'bin', 'sprocket')) throw new Error(`pack-check: sprocket on the PATH is ${which}`);
  const version = sh('sprocket', ['--version']).trim();
  const expected = JSON.parse(fs.readFileSync(path.join(root, 'packages/cli/package.json'), 'utf8')).version;
  if (version !== expected) throw new Error(`pack-check: sprocket --version says ${version}, the package is ${expected}`);
  sh('sprocket', ['login', adminKey]);
  const groups = sh('sprocket', ['ls']);
  if (!groups.includes(group.id)) throw new Error(`pack-check: sprocket ls does not list ${group.id}:\n${groups}`);
  const upload = path.join(tmp, 'notes.txt');
  const content = `pack-check ${new Date().toISOString()}\n`;
  fs.writeFileSync(upload, content);
  sh('sprocket', ['upload', `${group.id}/Tutorial`, upload]);
  const listed = sh('sprocket', ['ls', `${group.id}/Tutorial`]);
  if (!listed.includes('notes.txt')) throw new Error(`pack-check: the uploaded file is not listed:\n${listed}`);
  const back = path.join(tmp, 'notes-back.txt');
  sh('sprocket', ['download', `${group.id}/Tutorial/files/notes.txt`, '-o', back]);
  if (fs.readFileSync(back, 'utf8') !== content) throw new Error('pack-check: the downloaded file differs from the uploaded one');
  step(`passed (sprocket ${version}, tutorial and CLI from ${tmp})`);
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  console.error((e as Error).message);
  for (const c of children) if (c.proc.exitCode !== null) console.error(`--- a child exited early:\n${c.output()}`);
} finally {
  for (const c of children.reverse()) await c.stop();
  if (!keep) fs.rmSync(tmp, { recursive: true, force: true });
  else console.log(`pack-check: left ${tmp}`);
}
process.exit(failed ? 1 : 0);
