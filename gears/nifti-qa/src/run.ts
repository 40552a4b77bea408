import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GearError, loadContext, logger, requireInput, runGear } from '../../lib/src/context.js';
import { NiftiError, readNifti } from '../../lib/src/nifti.js';
import { computeMetrics } from './metrics.js';
import { renderMosaic } from './mosaic.js';
import { renderReport } from './report.js';

const log = logger('nifti-qa');

/** `<stem>_qa.json` and `<stem>_qa.html` for input `<stem>.nii.gz`. */
export function stemOf(name: string): string {
  return name.replace(/\.nii(\.gz)?$/i, '').replace(/\.gz$/i, '') || 'image';
}

async function main(): Promise<void> {
  const ctx = loadContext(import.meta.url);
  const input = requireInput(ctx, 'nifti');
  if (input.object.type && input.object.type !== 'nifti') log.warn(`input type is '${input.object.type}', not nifti; trying anyway`);
  let img: ReturnType<typeof readNifti>;
  try {
    img = readNifti(input.path);
  } catch (err) {
    throw new GearError(`${input.name} is not a readable NIfTI image: ${(err as Error).message}`, err instanceof NiftiError ? 17 : 1);
  }
  log.info(`${input.name}: ${img.header.dims.join('x')} voxels of ${img.voxel.map((v) => v.toFixed(3)).join('x')} mm, ${img.nt} volume(s)`);
  const started = Date.now();
  let result: ReturnType<typeof computeMetrics>;
  try {
    result = computeMetrics(img);
  } catch (err) {
    throw new GearError(`cannot measure ${input.name}: ${(err as Error).message}`);
  }
  const bidsMeta = input.object.info && typeof input.object.info === 'object' ? input.object.info : {};
  const info: Record<string, unknown> = {
    ...result.metrics,
    bids_meta: bidsMeta,
    qa_tool: { name: ctx.manifest.name, version: ctx.manifest.version },
  };
  log.info(
    `metrics in ${Date.now() - started} ms: efc ${info.efc}, fber ${info.fber}, snr ${info.snr}, cjv ${info.cjv}, fwhm_avg ${info.fwhm_avg}${img.nt > 1 ? `, tsnr ${info.tsnr}` : ''}`,
  );

  const mosaic = renderMosaic(result.grid, result.meanImage, result.head);
  const stem = stemOf(input.name);
  const jsonName = `${stem}_qa.json`;
  const htmlName = `${stem}_qa.html`;
  writeFileSync(join(ctx.outputDir, jsonName), `${JSON.stringify(info, null, 2)}\n`);
  writeFileSync(
    join(ctx.outputDir, htmlName),
    renderReport({
      inputName: input.name,
      gear: ctx.manifest.name,
      version: ctx.manifest.version,
      metrics: result.metrics,
      mosaic,
      bidsMeta,
    }),
  );
  const modality = typeof input.object.modality === 'string' ? { modality: input.object.modality } : {};
  const metadata = {
    acquisition: {
      files: [
        { name: jsonName, type: 'qa', ...modality, info },
        { name: htmlName, type: 'qa', ...modality, info: { qa_report_of: input.name } },
      ],
    },
  };
  writeFileSync(join(ctx.outputDir, '.metadata.json'), `${JSON.stringify(metadata, null, 2)}\n`);
  log.info(`wrote ${jsonName} and ${htmlName}`);
}

runGear('nifti-qa', main);
