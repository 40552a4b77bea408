/** Groups drawn at most; more are summed up in a line below the chart. */
const MAX_GROUPS = 40;
const ROW = 24;
const LABEL_W = 180;
const PLOT_W = 520;
const STATS_W = 150;

interface Group {
  label: string;
  values: number[];
  mean: number;
  min: number;
  max: number;
}

function groupsOf(rows: Record<string, unknown>[], value: string, group: string): Group[] {
  const by = new Map<string, number[]>();
  for (const r of rows) {
    const v = r[value];
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    const g = r[group] === null || r[group] === undefined ? '(none)' : String(r[group]);
    by.set(g, [...(by.get(g) ?? []), v]);
  }
  return [...by.entries()]
    .sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true }))
    .map(([label, values]) => ({
      label,
      values,
      mean: values.reduce((s, v) => s + v, 0) / values.length,
      min: Math.min(...values),
      max: Math.max(...values),
    }));
}

const fmt = (v: number) => (Math.abs(v) >= 1000 || Number.isInteger(v) ? v.toLocaleString() : v.toPrecision(4));

/**
 * A numeric column of a data view grouped by another (e.g. SNR by acquisition label): each value a
 * dot, the group's mean a bar, its range a line; an SVG drawn here rather than a charting library,
 * which would cost more than the rest of the page. The same numbers are in a table for screen readers.
 */
export function GroupChart({ rows, value, group }: { rows: Record<string, unknown>[]; value: string; group: string }) {
  const all = groupsOf(rows, value, group);
  const groups = all.slice(0, MAX_GROUPS);
  if (!groups.length) return <p className="muted">No numeric values of {value} in these rows.</p>;
  const lo = Math.min(0, ...groups.map((g) => g.min));
  const hi = Math.max(...groups.map((g) => g.max));
  const x = (v: number) => LABEL_W + (hi === lo ? PLOT_W / 2 : ((v - lo) / (hi - lo)) * PLOT_W);
  const height = groups.length * ROW + 28;
  const ticks = [lo, lo + (hi - lo) / 2, hi];
  return (
    <figure className="group-chart" data-testid="group-chart">
      <svg
        width={LABEL_W + PLOT_W + STATS_W}
        height={height}
        role="img"
        aria-labelledby="group-chart-title"
        viewBox={`0 0 ${LABEL_W + PLOT_W + STATS_W} ${height}`}
      >
        <title id="group-chart-title">
          {value} by {group}
        </title>
        {ticks.map((t) => (
          <g key={t}>
            <line x1={x(t)} x2={x(t)} y1={0} y2={height - 20} className="grid" />
            <text x={x(t)} y={height - 6} textAnchor="middle" className="tick">
              {fmt(t)}
            </text>
          </g>
        ))}
        {groups.map((g, i) => {
          const y = i * ROW + ROW / 2;
          return (
            <g key={g.label} data-group={g.label}>
              <text x={LABEL_W - 8} y={y + 4} textAnchor="end" className="label">
                {g.label.length > 26 ? `${g.label.slice(0, 25)}…` : g.label}
              </text>
              <rect x={x(lo)} y={y - 6} width={Math.max(1, x(g.mean) - x(lo))} height={12} className="bar" />
              <line x1={x(g.min)} x2={x(g.max)} y1={y} y2={y} className="range" />
              {g.values.slice(0, 500).map((v, j) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: values repeat; their order is their identity
                <circle key={j} cx={x(v)} cy={y} r={2.5} className="dot" />
              ))}
              <text x={LABEL_W + PLOT_W + 8} y={y + 4} className="stats">
                mean {fmt(g.mean)} · n {g.values.length}
              </text>
            </g>
          );
        })}
      </svg>
      {all.length > MAX_GROUPS && <figcaption className="muted">and {all.length - MAX_GROUPS} more groups not drawn</figcaption>}
      <table className="sr-only">
        <caption>
          {value} by {group}
        </caption>
        <thead>
          <tr>
            <th scope="col">{group}</th>
            <th scope="col">n</th>
            <th scope="col">mean</th>
            <th scope="col">min</th>
            <th scope="col">max</th>
          </tr>
        </thead>
        <tbody>
          {all.map((g) => (
            <tr key={g.label}>
              <td>{g.label}</td>
              <td>{g.values.length}</td>
              <td>{fmt(g.mean)}</td>
              <td>{fmt(g.min)}</td>
              <td>{fmt(g.max)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
