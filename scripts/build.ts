/**
 * `npm run build`: compiles each workspace package to JavaScript plus declarations in its dist/
 * (not committed), in dependency order, so `npm start` runs plain `node` and `npm pack` ships no
 * TypeScript. In the checkout, tests, tsx and `tsc --noEmit` read the sources instead through the
 * `@sprocket/source` export condition (tsconfig.json customConditions, vitest.config.ts).
 *
 * JavaScript comes from esbuild, declarations from tsc (tsconfig.build.json per package, which
 * resolves sibling packages to their built dist/*.d.ts, hence the order). Library packages are
 * transpiled file by file, so paths computed from import.meta.url (the DICOM worker beside its
 * pool) hold in dist as in src. The CLI is bundled instead (npm packages stay external): fewer
 * files to load is most of its start time; its entry answers `--version` before the command tree
 * (a chunk of its own) loads.
 *
 * The server is also bundled, into dist/bundle/ (what `npm start` and the benchmarks run; see
 * `bundleServer`), while its file-by-file dist/ stays the library that tests and benchmarks import.
 *
 *   npx tsx scripts/build.ts [package …]     (default: all, e.g. `types sdk`)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Dependency order: each package only imports the ones before it. */
export const PACKAGES = ['types', 'sdk', 'engine', 'server', 'cli'] as const;
const BUNDLED = new Set<string>(['cli']);
const TARGET = 'node20';

function sources(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => path.join(dir, f));
}

async function buildPackage(name: string): Promise<void> {
  const dir = path.join(root, 'packages', name);
  const src = path.join(dir, 'src');
  const dist = path.join(dir, 'dist');
  fs.rmSync(dist, { recursive: true, force: true });
  const common = { platform: 'node', format: 'esm', target: TARGET, sourcemap: true, logLevel: 'warning', outdir: dist } as const;
  if (BUNDLED.has(name)) {
    await build({
      ...common,
      entryPoints: [path.join(src, 'main.ts'), path.join(src, 'index.ts')],
      outbase: src,
      bundle: true,
      // Lazy `await import(…)` stays lazy: a command's modules load only when it runs.
      splitting: true,
      chunkNames: 'chunks/[name]-[hash]',
      packages: 'external',
    });
  } else {
    await build({ ...common, entryPoints: sources(src), outbase: src, bundle: false });
  }
  if (name === 'server') await bundleServer(src, path.join(dist, 'bundle'));
  const tsc = spawnSync(
    process.execPath,
    [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(dir, 'tsconfig.build.json')],
    { stdio: 'inherit' },
  );
  if (tsc.status !== 0) throw new Error(`build: declarations of packages/${name} failed`);
}

/**
 * The deployable server: one minified ESM bundle with its npm packages inside, plus the DICOM worker
 * as a second entry beside it (dicom/pool.ts starts `./worker.js` next to itself, so chunks stay in
 * the same folder). Measured idle: 109 MB RSS file by file, 90 MB bundled (`npm run bench:startup`):
 * V8 keeps every module's source text and module record, and fastify, ajv and typebox are hundreds of
 * small modules. Native addons stay outside, and so do the packages the server loads on first use
 * through createRequire (dicom-parser, tar-stream, yazl, fastify's compilers), which esbuild leaves as
 * they are. Names are kept: error classes and fastify plugins are told apart by them.
 */
async function bundleServer(src: string, outdir: string): Promise<void> {
  await build({
    platform: 'node',
    format: 'esm',
    target: TARGET,
    sourcemap: true,
    logLevel: 'warning',
    outdir,
    entryPoints: [
      { in: path.join(src, 'main.ts'), out: 'main' },
      { in: path.join(src, 'dicom', 'worker.ts'), out: 'worker' },
    ],
    bundle: true,
    splitting: true,
    chunkNames: '[name]-[hash]',
    minify: true,
    keepNames: true,
    external: ['better-sqlite3', 're2', '@node-rs/argon2', 'pg-native'],
    // The CommonJS packages inside call require() for Node builtins, which an ES module lacks.
    banner: { js: "import { createRequire as __sprocketRequire } from 'node:module'; const require = __sprocketRequire(import.meta.url);" },
  });
}

/** The web UI: a Vite build into packages/web/dist, which the server serves at / (server/src/web/static.ts). */
async function buildWeb(): Promise<void> {
  const { build: viteBuild } = await import('vite');
  const webRoot = path.join(root, 'packages', 'web');
  await viteBuild({ root: webRoot, configFile: path.join(webRoot, 'vite.config.ts'), logLevel: 'warn' });
  await precompress(path.join(webRoot, 'dist'));
}

/**
 * Brotli and gzip copies beside each text asset (`x.js.br`, `x.js.gz`), made once here at the
 * highest levels, so the server sends them compressed at no CPU cost per request
 * (@fastify/static's preCompressed). Source maps are left as they are: only developers fetch them.
 */
async function precompress(dir: string): Promise<void> {
  const { brotliCompress, gzip, constants } = await import('node:zlib');
  const { promisify } = await import('node:util');
  const br = promisify(brotliCompress);
  const gz = promisify(gzip);
  const files = fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(js|css|html|svg|json|wasm)$/.test(f))
    .map((f) => path.join(dir, f));
  await Promise.all(
    files.map(async (f) => {
      const data = fs.readFileSync(f);
      if (data.length < 1024) return;
      fs.writeFileSync(
        `${f}.br`,
        await br(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length } }),
      );
      fs.writeFileSync(`${f}.gz`, await gz(data, { level: 9 }));
    }),
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const wanted = process.argv.slice(2);
  for (const w of wanted)
    if (w !== 'web' && !(PACKAGES as readonly string[]).includes(w))
      throw new Error(`build: no package ${w} (${PACKAGES.join(', ')}, web)`);
  for (const name of PACKAGES) {
    if (wanted.length && !wanted.includes(name)) continue;
    const t = Date.now();
    await buildPackage(name);
    console.log(`build: packages/${name}/dist (${((Date.now() - t) / 1000).toFixed(1)} s)`);
  }
  if (!wanted.length || wanted.includes('web')) {
    const t = Date.now();
    await buildWeb();
    console.log(`build: packages/web/dist (${((Date.now() - t) / 1000).toFixed(1)} s)`);
  }
}
