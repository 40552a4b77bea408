import type { Grid } from './masks.js';
import { encodePng } from './png.js';
import { percentile } from './stats.js';

/**
 * A mosaic of axial slices (voxel k index), grey levels windowed to the 2nd–98th percentile of the
 * head, the head mask's outline in red. Rows are drawn with j increasing upwards, which puts
 * anterior at the top for the LAS/RAS images dcm2niix writes.
 */
export interface Mosaic {
  png: Buffer;
  width: number;
  height: number;
  slices: number[];
}

const MAX_TILES = 12;
const MAX_TILE_SIDE = 256;

export function renderMosaic(g: Grid, data: Float64Array, head: Uint8Array): Mosaic {
  const { nx, ny, nz } = g;
  const inHead: number[] = [];
  for (let i = 0; i < head.length; i++) if (head[i]) inHead.push(data[i]!);
  const ref = Float64Array.from(inHead.length ? inHead : data);
  const lo = percentile(ref, 2);
  const hi = percentile(ref, 98);
  const span = hi > lo ? hi - lo : 1;

  // Evenly spaced slices over the middle 80 % of the stack (the ends are mostly neck and air).
  const count = Math.min(MAX_TILES, nz);
  const slices: number[] = [];
  for (let s = 0; s < count; s++) {
    const k = count === 1 ? Math.floor(nz / 2) : Math.round(0.1 * (nz - 1) + (0.8 * (nz - 1) * s) / (count - 1));
    if (!slices.includes(k)) slices.push(k);
  }
  const step = Math.max(1, Math.ceil(Math.max(nx, ny) / MAX_TILE_SIDE));
  const tw = Math.ceil(nx / step);
  const th = Math.ceil(ny / step);
  const cols = Math.min(4, slices.length);
  const rows = Math.ceil(slices.length / cols);
  const width = cols * tw;
  const height = rows * th;
  const rgb = new Uint8Array(width * height * 3);
  const edge = (x: number, y: number, k: number) => {
    const i = x + nx * (y + ny * k);
    if (!head[i]) return false;
    return x === 0 || y === 0 || x === nx - 1 || y === ny - 1 || !head[i - 1] || !head[i + 1] || !head[i - nx] || !head[i + nx];
  };
  slices.forEach((k, s) => {
    const ox = (s % cols) * tw;
    const oy = Math.floor(s / cols) * th;
    for (let ty = 0; ty < th; ty++) {
      const y = ny - 1 - Math.min(ny - 1, ty * step);
      for (let tx = 0; tx < tw; tx++) {
        const x = Math.min(nx - 1, tx * step);
        const v = data[x + nx * (y + ny * k)]!;
        const grey = Math.round(255 * Math.min(1, Math.max(0, (v - lo) / span)));
        const p = ((oy + ty) * width + ox + tx) * 3;
        if (edge(x, y, k)) {
          rgb[p] = 255;
          rgb[p + 1] = 40;
          rgb[p + 2] = 40;
        } else {
          rgb[p] = grey;
          rgb[p + 1] = grey;
          rgb[p + 2] = grey;
        }
      }
    }
  });
  return { png: encodePng(width, height, rgb), width, height, slices };
}
