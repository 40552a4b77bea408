import type { Grid } from './masks.js';
import { Acc, mean, percentileSorted, variance } from './stats.js';

/**
 * Spatial image quality metrics, with the definitions MRIQC documents (mriqc.qc.anatomical);
 * where MRIQC's code and its documented formula differ, the choice is stated.
 */

/**
 * Entropy focus criterion (Atkinson 1997), normalised by its maximum so images of different size
 * compare: EFC = E / E_max with E = −Σ (x/b)·ln(x/b), b = √Σx², E_max the entropy of a constant
 * image of the same size. Computed over every voxel; negative intensities count as 0 (magnitude
 * images; MRIQC would produce NaN there).
 */
export function efc(data: ArrayLike<number>): number {
  const n = data.length;
  const energy = new Acc();
  for (let i = 0; i < n; i++) {
    const x = Math.max(0, data[i]!);
    energy.add(x * x);
  }
  const b = Math.sqrt(energy.value);
  if (!(b > 0)) return Number.NaN;
  const efcMax = n * (1 / Math.sqrt(n)) * Math.log(1 / Math.sqrt(n));
  const e = new Acc();
  for (let i = 0; i < n; i++) {
    const x = Math.max(0, data[i]!);
    e.add((x / b) * Math.log((x + 1e-16) / b));
  }
  return e.value / efcMax;
}

/**
 * Foreground–background energy ratio (Shehzad 2015) as MRIQC documents it, E[|F|²]/E[|B|²] over
 * the head mask and the air around it (means; MRIQC's code has used medians since 0.16, which are
 * 0 wherever a scanner zeroes the background). −1 when the background carries no energy.
 */
export function fber(data: ArrayLike<number>, head: Uint8Array): number {
  const fg = new Acc();
  const bg = new Acc();
  let nf = 0;
  for (let i = 0; i < head.length; i++) {
    const e = data[i]! * data[i]!;
    if (head[i]) {
      fg.add(e);
      nf++;
    } else bg.add(e);
  }
  const nb = head.length - nf;
  const bgMu = nb ? bg.value / nb : Number.NaN;
  if (!nf || !(bgMu >= 1e-3)) return -1;
  return fg.value / nf / bgMu;
}

/** 1/√(2/(4−π)): σ of Rayleigh-distributed magnitude noise in air relative to the noise σ (Dietrich 2007, eq. A.12). */
export const DIETRICH_FACTOR = Math.sqrt((4 - Math.PI) / 2);

/**
 * Dietrich's SNR (MRIQC snr_dietrich): mean of the foreground over the air's noise, with the air's
 * MAD as the noise estimate when it exceeds 1 and its standard deviation otherwise; −1 when the
 * air has no variation at all (skull-stripped or masked images).
 */
export function snrDietrich(meanFg: number, madAir: number, stdAir: number): number {
  if (madAir > 1) return (DIETRICH_FACTOR * meanFg) / madAir;
  return stdAir > 1e-3 ? (DIETRICH_FACTOR * meanFg) / stdAir : -1;
}

/** MRIQC snr(): one-region SNR, μ_F / (σ_F·√(n/(n−1))). */
export function snrForeground(meanFg: number, stdFg: number, n: number): number {
  return n > 1 && stdFg > 0 ? meanFg / (stdFg * Math.sqrt(n / (n - 1))) : Number.NaN;
}

/** MRIQC cjv(): (σ_WM + σ_GM) / |μ_WM − μ_GM|. */
export function cjv(muWm: number, muGm: number, sdWm: number, sdGm: number): number {
  return (sdWm + sdGm) / Math.abs(muWm - muGm);
}

/** MRIQC cnr(): |μ_GM − μ_WM| / √(σ_air² + σ_GM² + σ_WM²). */
export function cnr(muWm: number, muGm: number, sdAir: number, sdWm: number, sdGm: number): number {
  return Math.abs(muWm - muGm) / Math.sqrt(sdAir * sdAir + sdGm * sdGm + sdWm * sdWm);
}

export interface KMeans {
  /** Classes are runs of the sorted values: [0, b1) darkest, [b1, b2) middle, [b2, n) brightest. */
  bounds: [number, number];
  centroids: number[];
  iterations: number;
}

/** Index of the nearest centroid, the darker one on a tie. */
function nearest(v: number, c: number[]): number {
  let best = 0;
  let bestD = Math.abs(v - c[0]!);
  const d1 = Math.abs(v - c[1]!);
  if (d1 < bestD) {
    best = 1;
    bestD = d1;
  }
  return Math.abs(v - c[2]!) < bestD ? 2 : best;
}

/** First index of sorted `s` whose class is at least `k` (classes never decrease along sorted values). */
function firstOfClass(s: Float64Array, c: number[], k: number): number {
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (nearest(s[mid]!, c) >= k) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Three intensity classes inside the head by 1-D k-means (Lloyd): centroids start at the 25th,
 * 50th and 75th percentiles, each value joins its nearest centroid (the darker one on a tie),
 * centroids move to their class means, until no value changes class (at most 100 rounds).
 * Under T1 contrast the classes approximate CSF, GM and WM. Takes the values sorted: in one
 * dimension each class is then a run, found by bisection.
 */
export function kmeans3(s: Float64Array): KMeans {
  const n = s.length;
  const c = [25, 50, 75].map((q) => percentileSorted(s, q));
  let b1 = -1;
  let b2 = -1;
  let iterations = 0;
  while (iterations < 100) {
    iterations++;
    const n1 = firstOfClass(s, c, 1);
    const n2 = firstOfClass(s, c, 2);
    if (n1 === b1 && n2 === b2) break;
    b1 = n1;
    b2 = n2;
    const runs: [number, number][] = [
      [0, b1],
      [b1, b2],
      [b2, n],
    ];
    runs.forEach(([from, to], k) => {
      if (to > from) c[k] = mean(s.subarray(from, to));
    });
  }
  return { bounds: [b1, b2], centroids: c, iterations };
}

export interface Fwhm {
  x: number | null;
  y: number | null;
  z: number | null;
  avg: number | null;
}

/**
 * Smoothness as AFNI's 3dFWHMx estimates it from first differences (the formula MRIQC quotes):
 * for each axis, over neighbour pairs both inside the mask, ρ = 1 − var(Δ)/(2·var(x)) is the
 * neighbour correlation of a Gaussian-smoothed field, s = √(−1/(4 ln ρ)) its σ in voxels and
 * FWHM = 2√(2 ln 2)·s·voxel size, in mm. Variances are population variances; the average is the
 * geometric mean of the three axes. An axis with no pairs, or ρ outside (0, 1), gives null.
 */
export function fwhm(g: Grid, data: ArrayLike<number>, mask: Uint8Array, voxel: [number, number, number]): Fwhm {
  const { nx, ny, nz } = g;
  let m = 0;
  for (let i = 0; i < mask.length; i++) m += mask[i]!;
  const inMask = new Float64Array(m);
  for (let i = 0, j = 0; i < mask.length; i++) if (mask[i]) inMask[j++] = data[i]!;
  const v = variance(inMask);
  const diffs = new Float64Array(m);
  const axis = (a: 0 | 1 | 2): number | null => {
    const step = a === 0 ? 1 : a === 1 ? nx : nx * ny;
    let k = 0;
    for (let z = 0; z < nz - (a === 2 ? 1 : 0); z++) {
      for (let y = 0; y < ny - (a === 1 ? 1 : 0); y++) {
        let i = nx * (y + ny * z);
        for (let x = 0; x < nx - (a === 0 ? 1 : 0); x++, i++) {
          if (mask[i] && mask[i + step]) diffs[k++] = data[i + step]! - data[i]!;
        }
      }
    }
    if (k < 2 || !(v > 0)) return null;
    const rho = 1 - variance(diffs.subarray(0, k)) / (2 * v);
    if (!(rho > 0 && rho < 1)) return null;
    return 2 * Math.sqrt(2 * Math.LN2) * Math.sqrt(-1 / (4 * Math.log(rho))) * voxel[a];
  };
  const x = axis(0);
  const y = axis(1);
  const z = axis(2);
  const avg = x !== null && y !== null && z !== null ? Math.cbrt(x * y * z) : null;
  return { x, y, z, avg };
}
