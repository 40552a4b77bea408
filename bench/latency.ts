import { benchTransport } from './api.js';
import type { FilledProject } from './fill.js';
import { elapsedMs, fmtMs, percentile, table } from './stats.js';

/** One API call the benchmark times; `check` makes sure it answered what the row claims to measure. */
interface Probe {
  name: string;
  method?: 'GET' | 'POST';
  /** Called per run so paging probes can move through the project. */
  path: (run: number) => string;
  body?: unknown;
  headers?: Record<string, string>;
  check: (body: any) => string | undefined;
  /** The status the row measures (200 unless said). */
  expect?: number;
}

export interface LatencyResult {
  name: string;
  p50: number;
  p95: number;
  max: number;
  note: string;
}

async function call(base: string, key: string, p: Probe, run: number): Promise<{ ms: number; status: number; body: any }> {
  const http = benchTransport(base, key);
  const start = process.hrtime.bigint();
  const res = await http.request(p.method ?? 'GET', p.path(run), { body: p.body, headers: p.headers, anyStatus: true });
  const text = await res.text();
  const ms = elapsedMs(start);
  return { ms, status: res.status, body: text ? JSON.parse(text) : undefined };
}

const count = (n: number) => (b: any) =>
  Array.isArray(b) && b.length === n
    ? undefined
    : `expected ${n} results, got ${Array.isArray(b) ? b.length : JSON.stringify(b).slice(0, 200)}`;
const atLeast = (n: number) => (b: any) =>
  Array.isArray(b) && b.length >= n
    ? undefined
    : `expected ≥ ${n} results, got ${Array.isArray(b) ? b.length : JSON.stringify(b).slice(0, 200)}`;

function probes(data: FilledProject, supportsFileType: boolean): Probe[] {
  const { projectId, sample, acquisitionIds } = data;
  const acqPerSession = sample.acquisitionIds.length;
  const page = Math.min(250, acquisitionIds.length);
  // Paging probes start at points spread over the whole project, so every run reads a different page.
  const spread = (run: number) => acquisitionIds[Math.floor((((run * 7919) % 997) / 997) * Math.max(1, acquisitionIds.length - page))]!;
  const label = encodeURIComponent(`label=${data.commonLabel}`);
  const list: Probe[] = [
    {
      name: 'GET /acquisitions/{id}',
      path: (run) => `/acquisitions/${sample.acquisitionIds[run % acqPerSession]}`,
      check: (b) => (b?._id && b.info ? undefined : 'no document'),
    },
    { name: 'GET /sessions/{id}/acquisitions', path: () => `/sessions/${sample.sessionId}/acquisitions`, check: count(acqPerSession) },
    {
      name: 'GET /acquisitions?filter=parents.session=X',
      path: () => `/acquisitions?filter=${encodeURIComponent(`parents.session=${sample.sessionId}`)}`,
      check: count(acqPerSession),
    },
    {
      name: 'GET /subjects/{id}/acquisitions',
      path: () => `/subjects/${sample.subjectId}/acquisitions`,
      check: atLeast(acqPerSession),
    },
    { name: 'GET /projects/{id}/acquisitions?limit=250', path: () => `/projects/${projectId}/acquisitions?limit=250`, check: count(page) },
    {
      name: '  … with pagination envelope (total)',
      path: () => `/projects/${projectId}/acquisitions?limit=250`,
      headers: { 'X-Accept-Feature': 'pagination' },
      check: (b) => (b?.total === acquisitionIds.length && b.results?.length === page ? undefined : `total ${b?.total}`),
    },
    {
      name: 'GET /projects/{id}/acquisitions?after_id=…&limit=250',
      path: (run) => `/projects/${projectId}/acquisitions?limit=250&after_id=${spread(run)}`,
      check: count(page),
    },
    {
      name: 'GET /acquisitions?filter=label=<common>&limit=250',
      path: () => `/acquisitions?filter=${label}&limit=250`,
      check: atLeast(Math.min(250, Math.floor(acquisitionIds.length / 25))),
    },
    {
      name: 'GET /projects/{id}/acquisitions?filter=label=<common>&limit=250',
      path: () => `/projects/${projectId}/acquisitions?filter=${label}&limit=250`,
      check: atLeast(Math.min(250, Math.floor(acquisitionIds.length / 25))),
    },
  ];
  if (data.rareLabel) {
    list.push({
      name: 'GET /acquisitions?filter=label=<unique>',
      path: () => `/acquisitions?filter=${encodeURIComponent(`label=${data.rareLabel.replaceAll(',', '\\,')}`)}`,
      check: count(1),
    });
    list.push({
      name: 'GET /projects/{id}/acquisitions?filter=label=<unique>',
      path: () => `/projects/${projectId}/acquisitions?filter=${encodeURIComponent(`label=${data.rareLabel.replaceAll(',', '\\,')}`)}`,
      check: count(1),
    });
  }
  list.push(
    {
      name: 'GET /projects/{id}/acquisitions?filter=info.SeriesNumber=2&limit=250',
      path: () => `/projects/${projectId}/acquisitions?filter=${encodeURIComponent('info.SeriesNumber=2')}&limit=250`,
      check: atLeast(1),
    },
    { name: 'GET /projects/{id}/sessions?limit=250', path: () => `/projects/${projectId}/sessions?limit=250`, check: atLeast(1) },
    {
      name: 'POST /lookup group/project/subject/session/acq/files/name',
      method: 'POST',
      path: () => '/lookup',
      headers: { 'X-Accept-Feature': 'Subject-Container' },
      body: {
        path: [
          data.groupId,
          data.projectLabel,
          sample.subjectLabel,
          sample.sessionLabel,
          sample.acquisitionLabel,
          'files',
          sample.fileName,
        ],
      },
      check: (b) => (b?.name === sample.fileName ? undefined : JSON.stringify(b).slice(0, 200)),
    },
    {
      name: 'POST /lookup group/project/session/acq (no subject level, ambiguous: 409)',
      method: 'POST',
      path: () => '/lookup',
      // Session labels repeat across subjects here, so the path is ambiguous: the server answers 409
      // naming the candidates (it used to pick the first subject's). The row times that answer.
      body: { path: [data.groupId, data.projectLabel, sample.sessionLabel, data.commonLabel] },
      // A client without Subject-Container (older SDKs) sends paths with no subject level; the
      // transport's default would announce the feature and make the session label a subject's (404).
      headers: { 'X-Accept-Feature': 'Safe-Redirect' },
      expect: 409,
      check: (b) => (typeof b?.message === 'string' ? undefined : JSON.stringify(b).slice(0, 200)),
    },
  );
  if (supportsFileType) {
    list.push({
      name: 'GET /projects/{id}/acquisitions?filter=files.type=nifti&limit=250',
      path: () => `/projects/${projectId}/acquisitions?filter=${encodeURIComponent('files.type=nifti')}&limit=250`,
      check: atLeast(1),
    });
  }
  return list;
}

/** Times each probe `runs` times after a short warm-up; prints and returns p50/p95 per probe. */
export async function measureLatencies(
  base: string,
  key: string,
  data: FilledProject,
  runs: number,
  log: (l: string) => void,
): Promise<LatencyResult[]> {
  const ft = await call(
    base,
    key,
    {
      name: 'probe',
      path: () => `/projects/${data.projectId}/acquisitions?limit=1&filter=${encodeURIComponent('files.type=nifti')}`,
      check: () => undefined,
    },
    0,
  );
  const supportsFileType = ft.status === 200;
  const results: LatencyResult[] = [];
  // BENCH_PROBES=<text>,<text>: only the rows whose name contains one of them (and no walk unless named).
  const only = process.env.BENCH_PROBES?.split(',').filter(Boolean);
  const list = probes(data, supportsFileType).filter((p) => !only || only.some((o) => p.name.includes(o)));
  const times = list.map(() => [] as number[]);
  // Rounds over all probes rather than one probe at a time: a burst of load from elsewhere on the
  // machine then spreads over every row instead of ruining one.
  for (let run = -3; run < runs; run++) {
    for (const [i, p] of list.entries()) {
      const r = await call(base, key, p, run < 0 ? runs + run + 3 : run);
      const problem = r.status === (p.expect ?? 200) ? p.check(r.body) : `HTTP ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`;
      if (problem) throw new Error(`${p.name}: ${problem}`);
      if (run >= 0) times[i]!.push(r.ms);
    }
  }
  for (const [i, p] of list.entries()) {
    const t = times[i]!.sort((a, b) => a - b);
    results.push({ name: p.name, p50: percentile(t, 50), p95: percentile(t, 95), max: t[t.length - 1]!, note: '' });
  }
  if (!supportsFileType)
    results.push({
      name: 'file-type filter (files.type=…)',
      p50: Number.NaN,
      p95: Number.NaN,
      max: Number.NaN,
      note: `not supported by the API (HTTP ${ft.status})`,
    });

  // A whole-project walk the way an SDK iterator pages: after_id until an empty page.
  if (only && !only.some((o) => 'after_id walk'.includes(o))) {
    log(
      table(
        ['query', 'p50 ms', 'p95 ms', 'max ms', 'note'],
        results.map((r) => [r.name, fmtMs(r.p50), fmtMs(r.p95), fmtMs(r.max), r.note]),
      ),
    );
    return results;
  }
  const walkStart = process.hrtime.bigint();
  let after = '';
  let seen = 0;
  let pages = 0;
  for (;;) {
    const r = await call(
      base,
      key,
      { name: 'walk', path: () => `/projects/${data.projectId}/acquisitions?limit=1000&after_id=${after}`, check: () => undefined },
      0,
    );
    if (r.status !== 200) throw new Error(`walk: HTTP ${r.status}`);
    pages++;
    if (!r.body.length) break;
    seen += r.body.length;
    after = r.body[r.body.length - 1]._id;
  }
  const walkMs = elapsedMs(walkStart);
  if (seen !== data.acquisitionIds.length) throw new Error(`walk saw ${seen} acquisitions, expected ${data.acquisitionIds.length}`);
  results.push({
    name: `after_id walk of all ${seen} acquisitions (limit=1000)`,
    p50: walkMs,
    p95: walkMs,
    max: walkMs,
    note: `${pages} pages, ${Math.round(seen / (walkMs / 1000))} acquisitions/s`,
  });

  log(
    table(
      ['query', 'p50 ms', 'p95 ms', 'max ms', 'note'],
      results.map((r) => [
        r.name,
        Number.isNaN(r.p50) ? '-' : fmtMs(r.p50),
        Number.isNaN(r.p95) ? '-' : fmtMs(r.p95),
        Number.isNaN(r.max) ? '-' : fmtMs(r.max),
        r.note,
      ]),
    ),
  );
  return results;
}
