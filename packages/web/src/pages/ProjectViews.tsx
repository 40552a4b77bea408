import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { useParams } from 'react-router';
import { api, fetchBlob, messageOf } from '../api/client.js';
import { Empty, ErrorNote, Loading } from '../components/common.js';
import { GroupChart } from '../components/GroupChart.js';

/** The wire shapes of Flywheel's data views (server: views/spec.ts). */
type ColumnType = 'string' | 'int' | 'float' | 'bool';
interface Column {
  src: string;
  dst?: string;
  type?: ColumnType;
}
interface FileSpec {
  container: 'project' | 'subject' | 'session' | 'acquisition' | 'analysis';
  filter?: { value: string; regex?: boolean } | null;
  match?: 'first' | 'last' | 'newest' | 'oldest' | 'all';
}
interface ViewSpec {
  label?: string;
  columns: Column[];
  fileSpec?: FileSpec | null;
  includeIds?: boolean;
  includeLabels?: boolean;
  missingDataStrategy?: 'none' | 'drop-row';
  sort?: boolean;
}
interface SavedView extends ViewSpec {
  _id: string;
}
interface Alias {
  name: string;
  description: string;
  type: string;
}
type Row = Record<string, unknown>;

/** How many rows a preview fetches: enough for a chart of a study, few enough to stay quick. */
const PREVIEW_LIMIT = 5000;
/** Rows the preview table shows (the chart and the download use all). */
const TABLE_ROWS = 200;
const FORMATS = { csv: 'CSV', tsv: 'TSV', json: 'JSON' } as const;

const EMPTY: ViewSpec = { columns: [], includeIds: false, includeLabels: true, missingDataStrategy: 'none', sort: true };

function saveAs(blob: Blob, name: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

const numeric = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

/**
 * A project's data views: columns picked from container and file fields and the `info` keys that
 * really occur (GET /views/columns?containerId=), aliases and types, one row per container or per
 * matching file, a filter, a preview, saved views, CSV/TSV/JSON downloads the API makes, and a
 * chart of a numeric column grouped by another.
 */
export function ProjectViews() {
  const { projectId = '' } = useParams();
  const qc = useQueryClient();
  const [spec, setSpec] = useState<ViewSpec>(EMPTY);
  const [filter, setFilter] = useState('');
  const [find, setFind] = useState('');
  const [savedId, setSavedId] = useState<string>();
  const [format, setFormat] = useState<keyof typeof FORMATS>('csv');
  const [error, setError] = useState<string>();
  const [chart, setChart] = useState<{ value?: string; group?: string }>({});

  const aliases = useQuery({
    queryKey: ['project', projectId, 'view-columns'],
    queryFn: () => api.get<Alias[]>('/views/columns', { containerId: projectId }),
  });
  const saved = useQuery({
    queryKey: ['project', projectId, 'views'],
    queryFn: () => api.get<SavedView[]>(`/containers/${projectId}/views`),
  });
  const query = { containerId: projectId, ...(filter.trim() ? { filter: filter.trim() } : {}) };
  const preview = useMutation({
    mutationFn: () => api.post<{ data: Row[] }>(`/views/data?${new URLSearchParams({ ...query, limit: String(PREVIEW_LIMIT) })}`, spec),
    onMutate: () => setError(undefined),
    onError: (e) => setError(messageOf(e)),
  });
  const save = useMutation({
    mutationFn: async () => {
      if (savedId) await api.put(`/views/${savedId}`, spec);
      else setSavedId((await api.post<{ _id: string }>(`/containers/${projectId}/views`, spec))._id);
    },
    onMutate: () => setError(undefined),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['project', projectId, 'views'] }),
    onError: (e) => setError(messageOf(e)),
  });
  const remove = useMutation({
    mutationFn: (vid: string) => api.del(`/views/${vid}`),
    onSuccess: (_r, vid) => {
      if (vid === savedId) setSavedId(undefined);
      return qc.invalidateQueries({ queryKey: ['project', projectId, 'views'] });
    },
    onError: (e) => setError(messageOf(e)),
  });
  const download = useMutation({
    mutationFn: async () => {
      const blob = await fetchBlob('POST', '/views/data', { query: { ...query, format }, body: spec });
      saveAs(blob, `${(spec.label || 'view').replace(/[^\w.-]+/g, '_')}.${format}`);
    },
    onMutate: () => setError(undefined),
    onError: (e) => setError(messageOf(e)),
  });

  const offered = useMemo(() => {
    const needle = find.trim().toLowerCase();
    const chosen = new Set(spec.columns.map((c) => c.src));
    return (aliases.data ?? []).filter((a) => !chosen.has(a.name) && (!needle || a.name.toLowerCase().includes(needle))).slice(0, 200);
  }, [aliases.data, find, spec.columns]);

  const rows = preview.data?.data ?? [];
  const columns = rows.length ? Object.keys(rows[0]!) : [];
  const numericColumns = columns.filter((c) => rows.some((r) => numeric(r[c])));

  const edit = (patch: Partial<ViewSpec>) => setSpec((s) => ({ ...s, ...patch }));
  const setColumn = (i: number, patch: Partial<Column>) =>
    edit({
      columns: spec.columns.map((c, j) =>
        j === i ? Object.fromEntries(Object.entries({ ...c, ...patch }).filter(([, v]) => v)) : c,
      ) as Column[],
    });
  const move = (i: number, by: number) => {
    const cols = [...spec.columns];
    const [c] = cols.splice(i, 1);
    cols.splice(i + by, 0, c!);
    edit({ columns: cols });
  };
  const addColumn = (a: Alias) => {
    const type = a.type === 'int' || a.type === 'float' || a.type === 'bool' ? (a.type as ColumnType) : undefined;
    edit({ columns: [...spec.columns, { src: a.name, ...(type ? { type } : {}) }] });
  };

  return (
    <section aria-label="Data views" className="tab-body views">
      <div className="views-grid">
        <div className="card">
          <div className="card-head">
            <h2>Saved views</h2>
            <button
              type="button"
              className="btn btn-small"
              onClick={() => {
                setSpec(EMPTY);
                setSavedId(undefined);
                preview.reset();
              }}
            >
              New view
            </button>
          </div>
          {saved.isPending && <Loading />}
          {saved.error && <ErrorNote error={saved.error} retry={() => void saved.refetch()} />}
          {saved.data && saved.data.length === 0 && <p className="muted">None saved on this project yet.</p>}
          <ul className="plain-list">
            {(saved.data ?? []).map((v) => (
              <li key={v._id} className={v._id === savedId ? 'current' : undefined}>
                <button
                  type="button"
                  className="link"
                  onClick={() => {
                    const { _id, ...rest } = v;
                    setSpec({ ...EMPTY, ...rest });
                    setSavedId(_id);
                    preview.reset();
                  }}
                >
                  {v.label || 'Untitled view'}
                </button>
                <a className="btn btn-small btn-ghost" href={`/api/views/${v._id}/data?containerId=${projectId}&format=csv`} download>
                  CSV
                </a>
                <button
                  type="button"
                  className="btn btn-small btn-ghost"
                  aria-label={`Delete view ${v.label || v._id}`}
                  disabled={remove.isPending}
                  onClick={() => remove.mutate(v._id)}
                >
                  Delete
                </button>
              </li>
            ))}
          </ul>

          <h2>Columns</h2>
          <label className="search">
            <span className="sr-only">Find a column</span>
            <input type="search" placeholder="Find a field or info key" value={find} onChange={(e) => setFind(e.target.value)} />
          </label>
          {aliases.isPending && <Loading />}
          {aliases.error && <ErrorNote error={aliases.error} retry={() => void aliases.refetch()} />}
          <ul className="plain-list column-offer" aria-label="Columns you can add">
            {offered.map((a) => (
              <li key={a.name}>
                <button type="button" className="link mono" onClick={() => addColumn(a)} aria-label={`Add column ${a.name}`}>
                  {a.name}
                </button>
                <span className="muted small">
                  {a.type} · {a.description}
                </span>
              </li>
            ))}
          </ul>
        </div>

        <div className="card">
          <div className="card-head">
            <h2>{savedId ? 'Edit view' : 'New view'}</h2>
          </div>
          <div className="form-row">
            <label className="select">
              <span>Name</span>
              <input type="text" maxLength={256} value={spec.label ?? ''} onChange={(e) => edit({ label: e.target.value })} />
            </label>
            <label className="select">
              <span>One row per</span>
              <select
                value={spec.fileSpec ? 'file' : 'container'}
                onChange={(e) =>
                  edit({ fileSpec: e.target.value === 'file' ? { container: 'acquisition', filter: { value: '*' }, match: 'all' } : null })
                }
              >
                <option value="container">container (deepest level of the columns)</option>
                <option value="file">matching file</option>
              </select>
            </label>
            {spec.fileSpec && (
              <>
                <label className="select">
                  <span>Files of</span>
                  <select
                    value={spec.fileSpec.container}
                    onChange={(e) => edit({ fileSpec: { ...spec.fileSpec!, container: e.target.value as FileSpec['container'] } })}
                  >
                    {(['project', 'subject', 'session', 'acquisition', 'analysis'] as const).map((l) => (
                      <option key={l} value={l}>
                        {l}s
                      </option>
                    ))}
                  </select>
                </label>
                <label className="select">
                  <span>Named like</span>
                  <input
                    type="text"
                    maxLength={512}
                    value={spec.fileSpec.filter?.value ?? ''}
                    placeholder="*_qa.json"
                    onChange={(e) => edit({ fileSpec: { ...spec.fileSpec!, filter: e.target.value ? { value: e.target.value } : null } })}
                  />
                </label>
              </>
            )}
          </div>
          {spec.columns.length === 0 && <Empty>Add columns from the list on the left.</Empty>}
          {spec.columns.length > 0 && (
            <table className="table compact" aria-label="Chosen columns">
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col">Column name</th>
                  <th scope="col">Type</th>
                  <th scope="col">
                    <span className="sr-only">Order and remove</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {spec.columns.map((c, i) => (
                  <tr key={c.src} data-column={c.src}>
                    <td className="mono">{c.src}</td>
                    <td>
                      <input
                        type="text"
                        aria-label={`Column name for ${c.src}`}
                        maxLength={256}
                        value={c.dst ?? ''}
                        placeholder={c.src}
                        onChange={(e) => setColumn(i, { dst: e.target.value })}
                      />
                    </td>
                    <td>
                      <select
                        aria-label={`Type of ${c.src}`}
                        value={c.type ?? ''}
                        onChange={(e) => setColumn(i, { type: (e.target.value || undefined) as ColumnType })}
                      >
                        <option value="">as stored</option>
                        {(['string', 'int', 'float', 'bool'] as const).map((t) => (
                          <option key={t} value={t}>
                            {t}
                          </option>
                        ))}
                      </select>
                    </td>
                    <td className="nowrap">
                      <button
                        type="button"
                        className="btn btn-small btn-ghost"
                        disabled={i === 0}
                        onClick={() => move(i, -1)}
                        aria-label={`Move ${c.src} up`}
                      >
                        ↑
                      </button>
                      <button
                        type="button"
                        className="btn btn-small btn-ghost"
                        disabled={i === spec.columns.length - 1}
                        onClick={() => move(i, 1)}
                        aria-label={`Move ${c.src} down`}
                      >
                        ↓
                      </button>
                      <button
                        type="button"
                        className="btn btn-small btn-ghost"
                        onClick={() => edit({ columns: spec.columns.filter((_, j) => j !== i) })}
                        aria-label={`Remove column ${c.src}`}
                      >
                        ✕
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <div className="form-row">
            <label className="select grow">
              <span>Filter rows</span>
              <input
                type="text"
                maxLength={4096}
                value={filter}
                placeholder="e.g. snr>10,subject.label=~^sub-0"
                onChange={(e) => setFilter(e.target.value)}
              />
            </label>
            <label className="check">
              <input type="checkbox" checked={spec.includeIds === true} onChange={(e) => edit({ includeIds: e.target.checked })} />
              ids
            </label>
            <label className="check">
              <input
                type="checkbox"
                checked={spec.missingDataStrategy === 'drop-row'}
                onChange={(e) => edit({ missingDataStrategy: e.target.checked ? 'drop-row' : 'none' })}
              />
              drop rows with missing values
            </label>
            <label className="check">
              <input type="checkbox" checked={spec.sort !== false} onChange={(e) => edit({ sort: e.target.checked })} />
              sorted
            </label>
          </div>
          <div className="actions">
            <button
              type="button"
              className="btn btn-primary"
              disabled={!spec.columns.length || preview.isPending}
              onClick={() => preview.mutate()}
            >
              Preview
            </button>
            <button
              type="button"
              className="btn"
              disabled={!spec.columns.length || !spec.label?.trim() || save.isPending}
              onClick={() => save.mutate()}
            >
              {savedId ? 'Save changes' : 'Save view'}
            </button>
            <label className="select">
              <span className="sr-only">Download format</span>
              <select value={format} onChange={(e) => setFormat(e.target.value as keyof typeof FORMATS)}>
                {Object.entries(FORMATS).map(([k, v]) => (
                  <option key={k} value={k}>
                    {v}
                  </option>
                ))}
              </select>
            </label>
            <button type="button" className="btn" disabled={!spec.columns.length || download.isPending} onClick={() => download.mutate()}>
              Download
            </button>
            {(preview.isPending || download.isPending || save.isPending) && <Loading label="Working…" />}
            {save.isSuccess && !save.isPending && <span className="muted">Saved.</span>}
          </div>
          {error && (
            <div className="banner banner-error" role="alert">
              {error}
            </div>
          )}
        </div>
      </div>

      {preview.data && (
        <div className="card">
          <div className="card-head">
            <h2>Preview</h2>
            <span className="muted" data-testid="view-row-count">
              {rows.length >= PREVIEW_LIMIT
                ? `the first ${PREVIEW_LIMIT.toLocaleString()} rows`
                : `${rows.length.toLocaleString()} row${rows.length === 1 ? '' : 's'}`}
              {rows.length > TABLE_ROWS && `, ${TABLE_ROWS} shown`}
            </span>
          </div>
          {rows.length === 0 ? (
            <Empty>No rows: no container or file matches.</Empty>
          ) : (
            <div className="table-wrap scroll-x">
              <table className="table compact" aria-label="Data view rows">
                <thead>
                  <tr>
                    {columns.map((c) => (
                      <th key={c} scope="col" className="mono">
                        {c}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {rows.slice(0, TABLE_ROWS).map((r, i) => (
                    // biome-ignore lint/suspicious/noArrayIndexKey: rows have no id of their own (ids are optional columns)
                    <tr key={i} data-row>
                      {columns.map((c) => (
                        <td key={c} className={numeric(r[c]) ? 'num' : undefined}>
                          {r[c] === null || r[c] === undefined ? '' : String(r[c])}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {numericColumns.length > 0 && (
            <div className="chart-panel">
              <div className="form-row">
                <label className="select">
                  <span>Chart</span>
                  <select value={chart.value ?? ''} onChange={(e) => setChart({ ...chart, value: e.target.value || undefined })}>
                    <option value="">numeric column…</option>
                    {numericColumns.map((c) => (
                      <option key={c} value={c}>
                        {c}
                      </option>
                    ))}
                  </select>
                </label>
                <label className="select">
                  <span>grouped by</span>
                  <select value={chart.group ?? ''} onChange={(e) => setChart({ ...chart, group: e.target.value || undefined })}>
                    <option value="">column…</option>
                    {columns
                      .filter((c) => c !== chart.value)
                      .map((c) => (
                        <option key={c} value={c}>
                          {c}
                        </option>
                      ))}
                  </select>
                </label>
              </div>
              {chart.value && chart.group && <GroupChart rows={rows} value={chart.value} group={chart.group} />}
            </div>
          )}
        </div>
      )}
    </section>
  );
}
