import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A gear folder packed as the tar.gz the API takes (manifest.json at the top). */
export function packGear(manifest: Record<string, unknown>, files: Record<string, string> = {}): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdk-gear-'));
  try {
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content, { mode: 0o755 });
    return execFileSync('tar', ['-czf', '-', '-C', dir, '.'], { maxBuffer: 64 << 20 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A minimal valid manifest: one file input, two config options with defaults. */
export function manifest(
  name: string,
  category: 'converter' | 'analysis' | 'qa',
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name,
    label: `${name} (SDK test gear)`,
    description: 'Test gear for the SDK tests.',
    version: '1.0.0',
    author: 'Sprocket tests',
    license: 'MIT',
    url: '',
    source: '',
    command: './run',
    config: {
      threshold: { type: 'number', default: 0.5 },
      mode: { type: 'string', enum: ['fast', 'slow'], default: 'fast' },
    },
    inputs: { dicom: { base: 'file', type: { enum: ['dicom'] } } },
    custom: { 'gear-builder': { category } },
    ...over,
  };
}
