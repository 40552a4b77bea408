import type { Metrics } from './metrics.js';
import type { Mosaic } from './mosaic.js';

/** The HTML report: the slice mosaic (PNG as a data URI, so the report is one self-contained file) and the metrics with what they mean. */
const DEFINITIONS: [string, string][] = [
  ['efc', 'Entropy focus criterion (Atkinson 1997), normalised by its maximum; lower is sharper (less ghosting/blurring).'],
  ['fber', 'Foreground–background energy ratio E[|F|²]/E[|B|²]; higher is better; −1 when the background has no energy.'],
  ['snr', "Dietrich's SNR: mean of the eroded head over the air's noise (MAD if > 1, else SD) × √((4−π)/2)."],
  ['snr_fg', 'Single-region SNR of the eroded head: μ/(σ·√(n/(n−1))).'],
  ['cjv', 'Coefficient of joint variation of the two brightest k-means classes (WM/GM under T1 contrast); lower is better.'],
  ['cnr', 'Contrast-to-noise ratio |μ_GM−μ_WM|/√(σ_air²+σ_GM²+σ_WM²) of the same classes; higher is better.'],
  ['fwhm_x/y/z/avg', 'Smoothness in mm from first differences inside the head mask (AFNI 3dFWHMx classic); avg is the geometric mean.'],
  [
    'summary_*',
    'Mean, median, SD, MAD (σ-scaled), 5th/95th percentiles, excess kurtosis and voxel count of fg (eroded head), bg (eroded air) and the three k-means classes (csf/gm/wm).',
  ],
  ['tsnr', 'Median over the head of the temporal mean over the temporal SD (4D only).'],
  [
    'dvars_*',
    'DVARS of intensities scaled to a median of 1000: raw (nstd), over its expected value (std), voxel-standardised (vstd); means over time (4D only).',
  ],
  ['global_signal_*', 'Mean over the head of each volume: its mean, SD, min, max and range in % of the mean (4D only).'],
];

function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function fmt(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(6);
  if (v === null || v === undefined) return '—';
  return esc(JSON.stringify(v));
}

function plot(title: string, values: (number | null)[]): string {
  const ys = values.filter((v): v is number => v !== null);
  if (ys.length < 2) return '';
  const w = 640;
  const h = 140;
  const min = Math.min(...ys);
  const max = Math.max(...ys);
  const span = max > min ? max - min : 1;
  const pts = values
    .map((v, i) =>
      v === null
        ? null
        : `${((i / (values.length - 1)) * (w - 20) + 10).toFixed(1)},${(h - 10 - ((v - min) / span) * (h - 20)).toFixed(1)}`,
    )
    .filter(Boolean)
    .join(' ');
  return `<h3>${esc(title)}</h3><svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(title)}">
<rect width="${w}" height="${h}" fill="#fafafa" stroke="#ccc"/><polyline fill="none" stroke="#2a6ebb" stroke-width="1.5" points="${pts}"/>
<text x="12" y="14" font-size="11">max ${fmt(max)}</text><text x="12" y="${h - 4}" font-size="11">min ${fmt(min)}</text></svg>`;
}

export function renderReport(opts: {
  inputName: string;
  gear: string;
  version: string;
  metrics: Metrics;
  mosaic: Mosaic;
  bidsMeta: Record<string, unknown>;
}): string {
  const { metrics, mosaic, bidsMeta } = opts;
  const rows = Object.entries(metrics)
    .filter(([k]) => k !== 'timeseries' && k !== 'image')
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${fmt(v)}</td></tr>`)
    .join('\n');
  const meta = Object.entries(bidsMeta)
    .filter(([, v]) => v === null || typeof v !== 'object')
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
    .join('\n');
  const ts = metrics.timeseries as Record<string, (number | null)[]> | undefined;
  const image = metrics.image as Record<string, unknown>;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>QA: ${esc(opts.inputName)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}th,td{border-bottom:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}th{font-weight:600}img{max-width:100%;image-rendering:pixelated;background:#000}</style>
</head><body>
<h1>Image quality: ${esc(opts.inputName)}</h1>
<p>${esc(opts.gear)} ${esc(opts.version)} · dims ${esc((image.dims as number[]).join('×'))} · voxel ${esc((image.voxel_size as number[]).map((v) => v.toFixed(3)).join('×'))} mm · ${esc(image.datatype)} · spatial metrics on the ${esc(image.spatial_metrics_on)}</p>
<h2>Slices</h2>
<img alt="axial slice mosaic (slices ${esc(mosaic.slices.join(', '))}), head mask outlined in red" width="${mosaic.width}" height="${mosaic.height}" src="data:image/png;base64,${mosaic.png.toString('base64')}">
${ts ? `<h2>Time series</h2>${plot('Global signal (mean over the head mask)', ts.global_signal ?? [])}${plot('DVARS (scaled to median 1000)', ts.dvars_nstd ?? [])}` : ''}
<h2>Metrics</h2>
<table>${rows}</table>
<h2>Definitions</h2>
<p>Head mask: Otsu threshold (256 bins) on the ${esc(image.spatial_metrics_on)}, largest 6-connected component, holes filled; air is everything else. fg/bg statistics use both masks eroded once (18-connected).</p>
<table>${DEFINITIONS.map(([k, d]) => `<tr><th>${esc(k)}</th><td>${esc(d)}</td></tr>`).join('\n')}</table>
${meta ? `<h2>Acquisition (BIDS sidecar)</h2><table>${meta}</table>` : ''}
</body></html>
`;
}
