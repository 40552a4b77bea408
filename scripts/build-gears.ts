/**
 * Bundles each gear shipped in gears/ (a folder with a manifest.json and src/run.ts) into
 * gears/<gear>/dist/run.mjs: one self-contained ES module, the npm libraries it uses (yauzl,
 * nifti-reader-js) inside, that the system Node.js runs with no node_modules, which is all a
 * gear's sandbox offers. dist/ is not committed; `npm test` and `npm start` build it first.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const gearsDir = join(root, 'gears');

export async function buildGears(only?: string[]): Promise<string[]> {
  const built: string[] = [];
  for (const name of readdirSync(gearsDir).sort()) {
    const dir = join(gearsDir, name);
    const entry = join(dir, 'src', 'run.ts');
    if (!existsSync(join(dir, 'manifest.json')) || !existsSync(entry)) continue;
    if (only?.length && !only.includes(name)) continue;
    const outfile = join(dir, 'dist', 'run.mjs');
    await build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      // Debian 12's own nodejs is 18; the bundle must not need more than the oldest Node a host may have.
      target: 'node18',
      legalComments: 'none',
      logLevel: 'warning',
      // The bundled libraries (yauzl) are CommonJS and require() Node's built-ins, which an ES module
      // bundle can only do through a require made for it.
      banner: {
        js: `// Built by scripts/build-gears.ts from gears/${name}/src; do not edit.\nimport { createRequire as __sprocketCreateRequire } from 'node:module';\nconst require = __sprocketCreateRequire(import.meta.url);`,
      },
    });
    built.push(relative(root, outfile));
  }
  return built;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = await buildGears(process.argv.slice(2));
  console.log(`build-gears: ${built.length ? built.join(', ') : 'nothing to build'}`);
}
