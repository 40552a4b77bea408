import { benchDcm2niix } from './imaging-dcm2niix.js';
import { benchHeaders } from './imaging-headers.js';

/**
 * `npm run bench:imaging`: imaging benchmarks on real data. Each part lives in its own module and is
 * selected with BENCH_PARTS (comma-separated; default: all).
 *
 *   headers:  DICOM header extraction, files per second, against dcmdump (bench/imaging-headers.ts)
 *   dcm2niix: DICOM → NIfTI through Sprocket (upload, job, outputs saved) against dcm2niix by hand
 *             (bench/imaging-dcm2niix.ts)
 */
const parts: Record<string, () => Promise<unknown>> = {
  headers: () => benchHeaders(),
  dcm2niix: () => benchDcm2niix(),
};

const wanted = (process.env.BENCH_PARTS ?? Object.keys(parts).join(',')).split(',').map((s) => s.trim());
for (const name of wanted) {
  const run = parts[name];
  if (!run) throw new Error(`unknown BENCH_PARTS entry '${name}' (known: ${Object.keys(parts).join(', ')})`);
  console.log(`# ${name}`);
  await run();
}
