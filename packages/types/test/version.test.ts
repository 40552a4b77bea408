import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SPROCKET_VERSION } from '../src/index.js';

/**
 * SPROCKET_VERSION is the one version the code reports; the packages are released together under
 * it, so every workspace package.json, and each one's dependency on another, must carry it too.
 */
const PACKAGES = path.resolve(import.meta.dirname, '../..');

describe('one version', () => {
  const manifests = fs
    .readdirSync(PACKAGES)
    .map((d) => path.join(PACKAGES, d, 'package.json'))
    .filter((f) => fs.existsSync(f))
    .map((f) => ({
      file: path.relative(PACKAGES, f),
      pkg: JSON.parse(fs.readFileSync(f, 'utf8')) as { version: string; dependencies?: Record<string, string> },
    }));

  it('finds the workspace packages', () => {
    expect(manifests.map((m) => m.file).sort()).toEqual(
      expect.arrayContaining(['cli/package.json', 'engine/package.json', 'sdk/package.json', 'server/package.json', 'types/package.json']),
    );
  });

  it('is the version of every package and of every dependency between them', () => {
    const found = manifests.flatMap(({ file, pkg }) => [
      `${file}: ${pkg.version}`,
      ...Object.entries(pkg.dependencies ?? {})
        .filter(([name]) => name.startsWith('@sprocket/'))
        .map(([name, v]) => `${file} → ${name}: ${v}`),
    ]);
    expect(found.length).toBeGreaterThan(manifests.length);
    expect(found.filter((line) => !line.endsWith(`: ${SPROCKET_VERSION}`))).toEqual([]);
  });
});
