import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The CLI, the engine and the SDK reach the server only over HTTP, and share the gear spec through
 * `@sprocket/types`. An import of the server's source would tie them to its internals and ship it
 * inside them again, so any such import fails here.
 */
const ROOT = path.resolve(import.meta.dirname, '../../..');
const CLIENTS = ['cli', 'engine', 'sdk'];

/** Module specifiers a file imports: static and dynamic imports, re-exports. */
function specifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"]+)\1/g)) out.push(m[2]!);
  return out;
}

/** A specifier naming the server's code: its package, or its source folder by a relative path. */
function namesServer(spec: string): boolean {
  return spec === '@sprocket/server' || spec.startsWith('@sprocket/server/') || /(^|\/)server\/src(\/|$)/.test(spec);
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.[cm]?[jt]s$/.test(f)).map((f) => path.join(dir, f));
}

describe('package boundaries', () => {
  it('recognises every way of naming the server', () => {
    const sample = [
      "import { x } from '../../../server/src/jobs/manifest.js';",
      "const m = await import('../../server/src/files/filetypes.js');",
      "export { y } from '@sprocket/server';",
      "import '@sprocket/server/src/app.js';",
      "import { z } from '@sprocket/types';",
      "import { w } from './observer/src/x.js';",
    ].join('\n');
    expect(specifiers(sample).filter(namesServer)).toEqual([
      '../../../server/src/jobs/manifest.js',
      '../../server/src/files/filetypes.js',
      '@sprocket/server',
      '@sprocket/server/src/app.js',
    ]);
  });

  for (const pkg of CLIENTS) {
    it(`${pkg}/src imports nothing of the server`, () => {
      const files = sourceFiles(path.join(ROOT, 'packages', pkg, 'src'));
      expect(files.length).toBeGreaterThan(0);
      const found = files.flatMap((f) =>
        specifiers(fs.readFileSync(f, 'utf8'))
          .filter(namesServer)
          .map((s) => `${path.relative(ROOT, f)}: ${s}`),
      );
      expect(found).toEqual([]);
    });
  }
});
