/**
 * The head mask the QA metrics are measured in, by a documented recipe that needs no atlas:
 *   1. Otsu threshold on a 256-bin histogram of the (mean) image: voxels in bins above the
 *      threshold bin are foreground;
 *   2. keep the largest 6-connected component (drops noise specks and ghost fragments);
 *   3. fill holes: background not 6-connected to the volume border becomes head (ventricles,
 *      dark skull inside the scalp).
 * Everything outside the head mask is air. Statistics of "foreground" and "background" use the
 * masks eroded once with the 18-connected 3×3×3 element (MRIQC's summary_stats does the same);
 * voxels on the volume border erode away as if the outside were empty.
 */
export interface Grid {
  nx: number;
  ny: number;
  nz: number;
}

export const OTSU_BINS = 256;

export interface Otsu {
  /** Highest histogram bin still counted as background. */
  bin: number;
  /** Intensity at the upper edge of that bin. */
  threshold: number;
  min: number;
  max: number;
}

function binOf(x: number, min: number, max: number): number {
  // Same operation order as the reference computation, so both put every voxel in the same bin.
  return Math.min(OTSU_BINS - 1, Math.floor(((x - min) / (max - min)) * OTSU_BINS));
}

export function otsu(data: ArrayLike<number>): Otsu | null {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!(max > min)) return null;
  const hist = new Float64Array(OTSU_BINS);
  for (let i = 0; i < data.length; i++) hist[binOf(data[i]!, min, max)]!++;
  let total = 0;
  let totalMoment = 0;
  for (let b = 0; b < OTSU_BINS; b++) {
    total += hist[b]!;
    totalMoment += b * hist[b]!;
  }
  let w0 = 0;
  let m0 = 0;
  let best = -1;
  let bestBin = 0;
  for (let k = 0; k < OTSU_BINS - 1; k++) {
    w0 += hist[k]!;
    m0 += k * hist[k]!;
    const w1 = total - w0;
    if (w0 === 0 || w1 === 0) continue;
    const d = m0 / w0 - (totalMoment - m0) / w1;
    const between = w0 * w1 * (d * d);
    if (between > best) {
      best = between;
      bestBin = k;
    }
  }
  return { bin: bestBin, threshold: min + ((bestBin + 1) * (max - min)) / OTSU_BINS, min, max };
}

export function thresholdMask(data: ArrayLike<number>, t: Otsu): Uint8Array {
  const m = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) m[i] = binOf(data[i]!, t.min, t.max) > t.bin ? 1 : 0;
  return m;
}

/**
 * Breadth-first flood over 6-connected voxels: every queued voxel's neighbours that `accept`
 * takes are queued in turn. `queue` holds the seeds in [0, tail); returns the final tail.
 */
function flood(g: Grid, queue: Int32Array, tail: number, accept: (j: number) => boolean): number {
  const { nx, ny, nz } = g;
  const sxy = nx * ny;
  for (let head = 0; head < tail; head++) {
    const i = queue[head]!;
    const x = i % nx;
    const y = ((i - x) / nx) % ny;
    const z = (i - x - nx * y) / sxy;
    if (x > 0 && accept(i - 1)) queue[tail++] = i - 1;
    if (x < nx - 1 && accept(i + 1)) queue[tail++] = i + 1;
    if (y > 0 && accept(i - nx)) queue[tail++] = i - nx;
    if (y < ny - 1 && accept(i + nx)) queue[tail++] = i + nx;
    if (z > 0 && accept(i - sxy)) queue[tail++] = i - sxy;
    if (z < nz - 1 && accept(i + sxy)) queue[tail++] = i + sxy;
  }
  return tail;
}

export function largestComponent(g: Grid, mask: Uint8Array): Uint8Array {
  const label = new Int32Array(mask.length);
  const queue = new Int32Array(mask.length);
  let bestLabel = 0;
  let bestSize = 0;
  let next = 0;
  for (let seed = 0; seed < mask.length; seed++) {
    if (!mask[seed] || label[seed]) continue;
    const current = ++next;
    label[seed] = current;
    queue[0] = seed;
    const size = flood(g, queue, 1, (j) => {
      if (!mask[j] || label[j]) return false;
      label[j] = current;
      return true;
    });
    if (size > bestSize) {
      bestSize = size;
      bestLabel = current;
    }
  }
  const out = new Uint8Array(mask.length);
  if (bestLabel) for (let i = 0; i < mask.length; i++) out[i] = label[i] === bestLabel ? 1 : 0;
  return out;
}

export function fillHoles(g: Grid, mask: Uint8Array): Uint8Array {
  const { nx, ny, nz } = g;
  const outside = new Uint8Array(mask.length);
  const queue = new Int32Array(mask.length);
  let tail = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        if (x > 0 && y > 0 && z > 0 && x < nx - 1 && y < ny - 1 && z < nz - 1) continue;
        const i = x + nx * (y + ny * z);
        if (!mask[i] && !outside[i]) {
          outside[i] = 1;
          queue[tail++] = i;
        }
      }
    }
  }
  flood(g, queue, tail, (j) => {
    if (mask[j] || outside[j]) return false;
    outside[j] = 1;
    return true;
  });
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) out[i] = outside[i] ? 0 : 1;
  return out;
}

/**
 * Binary erosion with the 3×3×3 element minus its 8 corners (scipy's generate_binary_structure(3, 2)).
 * Outside the volume counts as empty, so voxels on its faces always erode away.
 */
export function erode18(g: Grid, mask: Uint8Array): Uint8Array {
  const { nx, ny, nz } = g;
  const out = new Uint8Array(mask.length);
  const offsets: number[] = [];
  for (let dz = -1; dz <= 1; dz++)
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++)
        if (Math.abs(dx) + Math.abs(dy) + Math.abs(dz) <= 2 && (dx || dy || dz)) offsets.push(dx + nx * (dy + ny * dz));
  for (let z = 1; z < nz - 1; z++) {
    for (let y = 1; y < ny - 1; y++) {
      let i = 1 + nx * (y + ny * z);
      for (let x = 1; x < nx - 1; x++, i++) {
        if (!mask[i]) continue;
        let keep = 1;
        for (let o = 0; o < offsets.length; o++) {
          if (!mask[i + offsets[o]!]) {
            keep = 0;
            break;
          }
        }
        out[i] = keep;
      }
    }
  }
  return out;
}

export function count(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i]!;
  return n;
}

export function invert(mask: Uint8Array): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) out[i] = mask[i] ? 0 : 1;
  return out;
}

/** Eroded mask, or the mask itself when erosion would leave nothing (thin volumes). */
export function erodedOrSelf(g: Grid, mask: Uint8Array): Uint8Array {
  const e = erode18(g, mask);
  return count(e) > 0 ? e : mask;
}
