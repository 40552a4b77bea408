/**
 * Writes a folder of synthetic MR DICOM for scale runs: subjects × sessions × series, one file per
 * slice, laid out <out>/<subject>/<session>/<series>/<n>.dcm (what `sprocket import dicom` reads).
 * The standard size is 100 subjects × 2 sessions × 4 series:
 *   npx tsx bench/generate-dicom.ts /tmp/scale --subjects 100 --sessions 2 --series 4 --slices 16
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { newUid, STANDARD_SERIES, syntheticSeries } from '../test-fixtures/synthetic-dicom.js';

const USAGE = `usage: npx tsx bench/generate-dicom.ts <out dir> [--subjects N] [--sessions N] [--series N] [--slices N] [--matrix N]

Writes synthetic MR DICOM laid out <out dir>/<subject>/<session>/<series>/<n>.dcm, one file per slice.
  --subjects N   subjects (default 100)
  --sessions N   sessions per subject (default 2)
  --series N     series per session, at most ${STANDARD_SERIES.length} (default 4)
  --slices N     slices (files) per series (default 16)
  --matrix N     rows and columns of each slice (default 64)`;

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    allowPositionals: true,
    options: {
      subjects: { type: 'string', default: '100' },
      sessions: { type: 'string', default: '2' },
      series: { type: 'string', default: '4' },
      slices: { type: 'string', default: '16' },
      matrix: { type: 'string', default: '64' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
try {
  parsed = parse();
} catch (e) {
  // An unknown or malformed option is the user's mistake: one line and the usage, not a stack trace.
  console.error(`generate-dicom: ${(e as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const out = positionals[0];
if (!out) {
  console.error(USAGE);
  process.exit(2);
}
const n = (v: string | undefined, name: string) => {
  const x = Number(v);
  if (!Number.isInteger(x) || x < 1) {
    console.error(`--${name} must be a positive integer, got ${v}`);
    process.exit(2);
  }
  return x;
};
const subjects = n(values.subjects, 'subjects');
const sessions = n(values.sessions, 'sessions');
const series = Math.min(n(values.series, 'series'), STANDARD_SERIES.length);
const slices = n(values.slices, 'slices');
const matrix = n(values.matrix, 'matrix');

const started = Date.now();
let files = 0;
for (let s = 1; s <= subjects; s++) {
  const patientId = `sub-${String(s).padStart(3, '0')}`;
  for (let v = 1; v <= sessions; v++) {
    const studyUid = newUid();
    for (let k = 0; k < series; k++) {
      const kind = STANDARD_SERIES[k]!;
      const dir = path.join(out, patientId, `ses-${v}`, `${k + 1}-${kind.description.replaceAll(' ', '_')}`);
      fs.mkdirSync(dir, { recursive: true });
      const slicesData = syntheticSeries({
        patientId,
        studyUid,
        seriesUid: newUid(),
        seriesNumber: k + 1,
        seriesDescription: kind.description,
        studyDate: `2024${String(v).padStart(2, '0')}15`,
        rows: matrix,
        columns: matrix,
        slices,
        repetitionTime: kind.tr,
        echoTime: kind.te,
        inversionTime: 'ti' in kind ? kind.ti : undefined,
        seed: s * 1000 + v * 10 + k,
      });
      for (const [i, b] of slicesData.entries()) fs.writeFileSync(path.join(dir, `${String(i + 1).padStart(4, '0')}.dcm`), b);
      files += slicesData.length;
    }
  }
}
console.log(
  `wrote ${files} DICOM files (${subjects} subjects × ${sessions} sessions × ${series} series × ${slices} slices) to ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
