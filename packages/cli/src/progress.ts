import { createRequire } from 'node:module';
import type CliProgress from 'cli-progress';
import { humanSize } from './output.js';

/** A progress display; a no-op when stderr is not a terminal (pipes, CI, tests). */
export interface Progress {
  /** Adds to the amount done. */
  add(n: number): void;
  set(value: number): void;
  setTotal(total: number): void;
  /** A short status shown after the numbers ("3/14 series"). */
  note(text: string): void;
  stop(): void;
}

const active = new Set<Progress>();

/** Clears every bar still drawn, so an error line is not printed into the middle of one. */
export function stopAllProgress(): void {
  for (const p of [...active]) p.stop();
}

const NOOP: Progress = { add() {}, set() {}, setTotal() {}, note() {}, stop() {} };

function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--';
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * A bar with the amount, the rate over the last few seconds and the time left at that rate.
 * `unit` 'bytes' shows sizes (kB, MB …); any other unit is a count ("jobs", "files").
 */
export function progress(label: string, total: number, unit: string): Progress {
  if (!process.stderr.isTTY || process.env.SPROCKET_NO_PROGRESS) return NOOP;
  // Loaded only when a bar is drawn: scripts and pipes never pay for it.
  const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof CliProgress;
  const bytes = unit === 'bytes';
  const amount = (n: number) => (bytes ? humanSize(n) : String(n));
  const samples: [number, number][] = [];
  let value = 0;
  let noteText = '';
  const rate = () => {
    const now = Date.now();
    samples.push([now, value]);
    while (samples.length > 2 && now - samples[0]![0] > 5000) samples.shift();
    const [t0, v0] = samples[0]!;
    return now > t0 ? ((value - v0) * 1000) / (now - t0) : 0;
  };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      barsize: 24,
      fps: 8,
      format: (options, params) => {
        const r = rate();
        const left = params.total - params.value;
        const eta = r > 0 ? duration(left / r) : '--';
        const pct = params.total > 0 ? Math.floor((params.value / params.total) * 100) : 0;
        const speed = bytes ? `${humanSize(r)}/s` : `${r.toFixed(r < 10 ? 1 : 0)} ${unit}/s`;
        const barText = cliProgress.Format.BarFormat(params.progress, options);
        return `${label} ${barText} ${String(pct).padStart(3)}% | ${amount(params.value)}/${amount(params.total)} | ${speed} | ETA ${eta}${noteText ? ` | ${noteText}` : ''}`;
      },
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  const p: Progress = {
    add(n) {
      value += n;
      bar.update(value);
    },
    set(v) {
      value = v;
      bar.update(value);
    },
    setTotal(t) {
      bar.setTotal(t);
    },
    note(text) {
      noteText = text;
      bar.update(value);
    },
    stop() {
      if (!active.delete(p)) return;
      bar.stop();
    },
  };
  active.add(p);
  return p;
}
