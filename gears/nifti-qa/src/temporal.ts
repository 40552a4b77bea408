import { mean, median, sum } from './stats.js';

/**
 * Temporal metrics of a 4D series inside the head mask (computed on the temporal mean image),
 * with MRIQC's definitions (mriqc.qc.functional) and no motion correction.
 *
 * - tSNR: per voxel, temporal mean over temporal standard deviation (population), 0 where the
 *   standard deviation is ≤ 1e-3 (nipype's TSNR); reported as the median over the mask.
 * - DVARS (Power 2012): intensities are first scaled so the median of the mean image inside the mask
 *   is 1000 (units of 0.1 % signal change), then DVARS_t = √(mean_i (x_i,t − x_i,t−1)²) for t ≥ 1
 *   (`dvars_nstd`). Standardised after Nichols (2013), without the robust estimators: with σ_i the
 *   temporal standard deviation (population) and ρ_i the lag-1 autocorrelation of voxel i, a
 *   difference is expected to vary by v_i = 2(1 − ρ_i)σ_i²; `dvars_std` = DVARS_t / √(mean_i v_i),
 *   `dvars_vstd` = √(mean_i Δ²_i,t / v_i) over voxels with σ_i > 1e-3. Summaries are means over t.
 * - Global signal: the mean over the mask of each volume (original intensities).
 */
export interface Temporal {
  tsnr: number;
  dvars: { nstd: number[]; std: number[]; vstd: number[] };
  globalSignal: number[];
}

export function temporalMetrics(data: ArrayLike<number>, nvox: number, nt: number, mask: Uint8Array, meanImage: Float64Array): Temporal {
  const idx: number[] = [];
  for (let i = 0; i < nvox; i++) if (mask[i]) idx.push(i);
  const m = idx.length;
  const series = new Float64Array(nt);

  const tsnrMap = new Float64Array(m);
  const sigma = new Float64Array(m);
  const rho = new Float64Array(m);
  const globalSignal: number[] = [];
  for (let t = 0; t < nt; t++) {
    const vol = new Float64Array(m);
    for (let j = 0; j < m; j++) vol[j] = data[t * nvox + idx[j]!]!;
    globalSignal.push(mean(vol));
  }

  const meanInMask = new Float64Array(m);
  for (let j = 0; j < m; j++) meanInMask[j] = meanImage[idx[j]!]!;
  const scale = 1000 / median(meanInMask);

  for (let j = 0; j < m; j++) {
    const i = idx[j]!;
    for (let t = 0; t < nt; t++) series[t] = data[t * nvox + i]!;
    const mu = mean(series);
    let ss = 0;
    let lag = 0;
    for (let t = 0; t < nt; t++) {
      const d = series[t]! - mu;
      ss += d * d;
      if (t > 0) lag += d * (series[t - 1]! - mu);
    }
    const sd = Math.sqrt(ss / nt);
    tsnrMap[j] = sd > 1e-3 ? mu / sd : 0;
    sigma[j] = sd * scale;
    rho[j] = ss > 0 ? lag / ss : 0;
  }

  const expected = new Float64Array(m);
  for (let j = 0; j < m; j++) expected[j] = 2 * (1 - rho[j]!) * sigma[j]! * sigma[j]!;
  const d0 = Math.sqrt(mean(expected));
  const nstd: number[] = [];
  const std: number[] = [];
  const vstd: number[] = [];
  const sq = new Float64Array(m);
  const sqv: number[] = [];
  for (let t = 1; t < nt; t++) {
    sqv.length = 0;
    for (let j = 0; j < m; j++) {
      const i = idx[j]!;
      const d = (data[t * nvox + i]! - data[(t - 1) * nvox + i]!) * scale;
      sq[j] = d * d;
      if (sigma[j]! > 1e-3 && expected[j]! > 0) sqv.push((d * d) / expected[j]!);
    }
    const dv = Math.sqrt(sum(sq) / m);
    nstd.push(dv);
    std.push(d0 > 0 ? dv / d0 : Number.NaN);
    vstd.push(sqv.length ? Math.sqrt(mean(sqv)) : Number.NaN);
  }
  return { tsnr: median(tsnrMap), dvars: { nstd, std, vstd }, globalSignal };
}
