/**
 * Descriptive statistics with the conventions MRIQC's summary_stats uses (numpy/scipy/statsmodels
 * defaults), so the numbers mean the same thing: population standard deviation, percentiles by
 * linear interpolation between order statistics, Fisher (excess) kurtosis without bias correction,
 * and the MAD scaled by 1/Φ⁻¹(3/4) to estimate σ for normal data. Sums are compensated (Neumaier)
 * so millions of voxels do not lose precision; order statistics come from selection, not sorting.
 */
export class Acc {
  private s = 0;
  private c = 0;
  add(v: number): void {
    const t = this.s + v;
    this.c += Math.abs(this.s) >= Math.abs(v) ? this.s - t + v : v - t + this.s;
    this.s = t;
  }
  get value(): number {
    return this.s + this.c;
  }
}

export function sum(values: ArrayLike<number>): number {
  const a = new Acc();
  for (let i = 0; i < values.length; i++) a.add(values[i]!);
  return a.value;
}

export function mean(values: ArrayLike<number>): number {
  return values.length ? sum(values) / values.length : Number.NaN;
}

/** Population variance around `m` (numpy's default, ddof = 0). */
export function variance(values: ArrayLike<number>, m = mean(values)): number {
  const a = new Acc();
  for (let i = 0; i < values.length; i++) {
    const d = values[i]! - m;
    a.add(d * d);
  }
  return values.length ? a.value / values.length : Number.NaN;
}

/**
 * Rearranges a[lo..hi] so a[k] holds the value it would have if sorted, smaller-or-equal values
 * before it and larger-or-equal after (Hoare partition, median-of-three pivot).
 */
export function select(a: Float64Array, k: number, lo = 0, hi = a.length - 1): number {
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Median of three as pivot keeps sorted and constant runs from going quadratic.
    let x = a[lo]!;
    let y = a[mid]!;
    let z = a[hi]!;
    if (x > y) [x, y] = [y, x];
    if (y > z) [y, z] = [z, y];
    if (x > y) [x, y] = [y, x];
    const pivot = y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

/** numpy.percentile's default ('linear'): position q/100·(n−1) between order statistics. Reorders `work`. */
export function percentile(work: Float64Array, q: number): number {
  const n = work.length;
  if (n === 0) return Number.NaN;
  const pos = (q / 100) * (n - 1);
  const lo = Math.floor(pos);
  const frac = pos - lo;
  const a = select(work, lo);
  if (frac === 0 || lo + 1 >= n) return a;
  // After selection everything right of lo is ≥ a: the next order statistic is their minimum.
  let b = Number.POSITIVE_INFINITY;
  for (let i = lo + 1; i < n; i++) if (work[i]! < b) b = work[i]!;
  return a + (b - a) * frac;
}

export function percentileSorted(s: Float64Array, q: number): number {
  if (s.length === 0) return Number.NaN;
  const pos = (q / 100) * (s.length - 1);
  const lo = Math.floor(pos);
  const frac = pos - lo;
  return frac === 0 || lo + 1 >= s.length ? s[lo]! : s[lo]! + (s[lo + 1]! - s[lo]!) * frac;
}

export function median(values: ArrayLike<number>): number {
  return percentile(Float64Array.from(values as ArrayLike<number>), 50);
}

/** Φ⁻¹(3/4): the MAD of a normal sample divided by this estimates its σ (statsmodels' `mad`). */
export const MAD_NORMAL = 0.6744897501960817;

export interface Summary {
  mean: number;
  median: number;
  stdv: number;
  mad: number;
  p05: number;
  p95: number;
  k: number;
  n: number;
}

export function summarize(values: ArrayLike<number>): Summary {
  const n = values.length;
  if (n === 0)
    return {
      mean: Number.NaN,
      median: Number.NaN,
      stdv: Number.NaN,
      mad: Number.NaN,
      p05: Number.NaN,
      p95: Number.NaN,
      k: Number.NaN,
      n: 0,
    };
  const m = mean(values);
  const m2 = new Acc();
  const m4 = new Acc();
  for (let i = 0; i < n; i++) {
    const d = values[i]! - m;
    const d2 = d * d;
    m2.add(d2);
    m4.add(d2 * d2);
  }
  const var_ = m2.value / n;
  const work = Float64Array.from(values as ArrayLike<number>);
  const med = percentile(work, 50);
  const p05 = percentile(work, 5);
  const p95 = percentile(work, 95);
  for (let i = 0; i < n; i++) work[i] = Math.abs(work[i]! - med);
  return {
    mean: m,
    median: med,
    stdv: Math.sqrt(var_),
    mad: percentile(work, 50) / MAD_NORMAL,
    p05,
    p95,
    // scipy.stats.kurtosis defaults: Fisher (normal → 0), biased; a constant sample gives NaN there too.
    k: var_ > 0 ? m4.value / n / (var_ * var_) - 3 : Number.NaN,
    n,
  };
}

/** Values of `data` (one volume) where `mask` is set. */
export function masked(data: ArrayLike<number>, mask: Uint8Array): Float64Array {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i]!;
  const out = new Float64Array(n);
  for (let i = 0, j = 0; i < mask.length; i++) if (mask[i]) out[j++] = data[i]!;
  return out;
}
