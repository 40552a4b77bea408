import { DATATYPES, type NiftiImage } from '../../lib/src/nifti.js';
import { cjv, cnr, efc, fber, fwhm, kmeans3, snrDietrich, snrForeground } from './iqms.js';
import { count, erodedOrSelf, fillHoles, type Grid, invert, largestComponent, otsu, thresholdMask } from './masks.js';
import { masked, mean, type Summary, summarize } from './stats.js';
import { temporalMetrics } from './temporal.js';

/**
 * All metrics of one image, flat like MRIQC's IQM JSON (`summary_fg_mean`, `fwhm_x` …) so data
 * views can pick them as columns. Spatial metrics are measured on the image itself, or on the
 * temporal mean of a 4D series (as MRIQC does for BOLD).
 */
export type Metrics = Record<string, unknown>;

export interface QaResult {
  metrics: Metrics;
  grid: Grid;
  meanImage: Float64Array;
  head: Uint8Array;
}

/** JSON has no NaN or Infinity: a metric that could not be computed is null. */
export function finite(v: number | null | undefined): number | null {
  return v === null || v === undefined || !Number.isFinite(v) ? null : v;
}

function summaryKeys(prefix: string, s: Summary): Metrics {
  const out: Metrics = {};
  for (const [k, v] of Object.entries(s)) out[`summary_${prefix}_${k}`] = finite(v);
  return out;
}

export function computeMetrics(img: NiftiImage): QaResult {
  const grid: Grid = { nx: img.nx, ny: img.ny, nz: img.nz };
  const nvox = img.nx * img.ny * img.nz;
  for (let i = 0; i < img.data.length; i++) {
    if (!Number.isFinite(img.data[i])) throw new Error('image holds NaN or infinite values; QA needs finite intensities');
  }
  let meanImage: Float64Array;
  if (img.nt === 1) meanImage = Float64Array.from(img.data.subarray(0, nvox));
  else {
    meanImage = new Float64Array(nvox);
    const vol = new Float64Array(img.nt);
    for (let i = 0; i < nvox; i++) {
      for (let t = 0; t < img.nt; t++) vol[t] = img.data[t * nvox + i]!;
      meanImage[i] = mean(vol);
    }
  }

  const t = otsu(meanImage);
  if (!t) throw new Error('the image is constant: no head can be told from the background');
  const head = fillHoles(grid, largestComponent(grid, thresholdMask(meanImage, t)));
  const air = invert(head);
  const fgMask = erodedOrSelf(grid, head);
  const bgMask = erodedOrSelf(grid, air);
  const fg = summarize(masked(meanImage, fgMask));
  const bg = count(air) ? summarize(masked(meanImage, bgMask)) : summarize([]);

  const headValues = masked(meanImage, head).sort();
  const km = kmeans3(headValues);
  const [b1, b2] = km.bounds;
  const classes = [headValues.subarray(0, b1), headValues.subarray(b1, b2), headValues.subarray(b2)].map((v) => summarize(v));
  const [csf, gm, wm] = classes as [Summary, Summary, Summary];
  const smooth = fwhm(grid, meanImage, head, img.voxel);

  const metrics: Metrics = {
    efc: finite(efc(meanImage)),
    fber: finite(fber(meanImage, head)),
    snr: finite(bg.n ? snrDietrich(fg.mean, bg.mad, bg.stdv) : Number.NaN),
    snr_fg: finite(snrForeground(fg.mean, fg.stdv, fg.n)),
    cjv: finite(cjv(wm.mean, gm.mean, wm.stdv, gm.stdv)),
    cnr: finite(bg.n ? cnr(wm.mean, gm.mean, bg.stdv, wm.stdv, gm.stdv) : Number.NaN),
    fwhm_x: finite(smooth.x),
    fwhm_y: finite(smooth.y),
    fwhm_z: finite(smooth.z),
    fwhm_avg: finite(smooth.avg),
    ...summaryKeys('fg', fg),
    ...summaryKeys('bg', bg),
    ...summaryKeys('csf', csf),
    ...summaryKeys('gm', gm),
    ...summaryKeys('wm', wm),
    mask_otsu_threshold: t.threshold,
    mask_head_voxels: count(head),
    mask_air_voxels: count(air),
    mask_fg_eroded_voxels: fg.n,
    mask_bg_eroded_voxels: bg.n,
    tissue_kmeans_centroids: km.centroids.map(finite),
  };

  if (img.nt > 1) {
    const tm = temporalMetrics(img.data, nvox, img.nt, head, meanImage);
    const avg = (xs: number[]) => finite(xs.length ? mean(xs) : Number.NaN);
    const gs = tm.globalSignal;
    const gsMean = mean(gs);
    const gsSd = Math.sqrt(gs.reduce((s, v) => s + (v - gsMean) ** 2, 0) / gs.length);
    Object.assign(metrics, {
      tsnr: finite(tm.tsnr),
      dvars_nstd: avg(tm.dvars.nstd),
      dvars_std: avg(tm.dvars.std),
      dvars_vstd: avg(tm.dvars.vstd),
      global_signal_mean: finite(gsMean),
      global_signal_std: finite(gsSd),
      global_signal_min: finite(Math.min(...gs)),
      global_signal_max: finite(Math.max(...gs)),
      global_signal_range_pct: finite(((Math.max(...gs) - Math.min(...gs)) / gsMean) * 100),
      timeseries: {
        global_signal: gs.map(finite),
        dvars_nstd: tm.dvars.nstd.map(finite),
        dvars_std: tm.dvars.std.map(finite),
        dvars_vstd: tm.dvars.vstd.map(finite),
      },
    });
  }

  metrics.image = {
    dims: img.header.dims,
    voxel_size: img.voxel,
    volumes: img.nt,
    datatype: DATATYPES[img.header.datatype]?.name ?? String(img.header.datatype),
    nifti_version: img.header.version,
    spatial_metrics_on: img.nt > 1 ? 'temporal mean image' : 'image',
  };
  return { metrics, grid, meanImage, head };
}
