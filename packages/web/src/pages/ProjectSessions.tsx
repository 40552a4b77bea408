import { skipToken, useQuery, useQueryClient } from '@tanstack/react-query';
import { useVirtualizer } from '@tanstack/react-virtual';
import { lazy, Suspense, useMemo, useRef, useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { firstPageQuery, projectAcquisitionsQuery, sessionsQuery } from '../api/listings.js';
import type { AcquisitionRowDoc as Acquisition, ListedFile, SessionRowDoc as Session } from '../api/types.js';
import { Empty, ErrorNote, formatDate, Loading } from '../components/common.js';
import '../run.css';

// The batch and tag dialogs load when first opened, not with the table.
const BatchRunDialog = lazy(() => import('../components/BatchRunDialog.js').then((m) => ({ default: m.BatchRunDialog })));
const BulkTagDialog = lazy(() => import('../components/BatchRunDialog.js').then((m) => ({ default: m.BulkTagDialog })));

const ROW_HEIGHT = 40;

interface SessionRow {
  kind: 'session';
  session: Session;
  subject: string;
  acquisitions: Acquisition[];
  files: number;
  modalities: string[];
  classification: string[];
  date: string | null;
}

interface AcquisitionRow {
  kind: 'acquisition';
  acquisition: Acquisition;
  modalities: string[];
  classification: string[];
}

type Row = SessionRow | AcquisitionRow;

const COLUMNS = [
  { key: 'subject', label: 'Subject' },
  { key: 'session', label: 'Session' },
  { key: 'date', label: 'Scan date' },
  { key: 'acquisitions', label: 'Acquisitions', num: true },
  { key: 'files', label: 'Files', num: true },
  { key: 'modality', label: 'Modality' },
  { key: 'classification', label: 'Classification' },
] as const;
type SortKey = (typeof COLUMNS)[number]['key'];

function uniq(values: (string | null | undefined)[]): string[] {
  return [...new Set(values.filter((v): v is string => !!v))].sort();
}

function modalitiesOf(files: ListedFile[]): string[] {
  return uniq(files.map((f) => f.modality));
}

function classificationOf(files: ListedFile[]): string[] {
  return uniq(files.flatMap((f) => Object.values(f.classification ?? {}).flat()));
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

function compare(a: SessionRow, b: SessionRow, key: SortKey): number {
  switch (key) {
    case 'subject':
      return collator.compare(a.subject, b.subject) || collator.compare(a.session.label, b.session.label);
    case 'session':
      return collator.compare(a.session.label, b.session.label);
    case 'date':
      return (a.date ?? '').localeCompare(b.date ?? '');
    case 'acquisitions':
      return a.acquisitions.length - b.acquisitions.length;
    case 'files':
      return a.files - b.files;
    case 'modality':
      return collator.compare(a.modalities.join(','), b.modalities.join(','));
    case 'classification':
      return collator.compare(a.classification.join(','), b.classification.join(','));
  }
}

/**
 * Subject → session → acquisition, one row per session (acquisitions unfold below it). Sort and
 * filter live in the URL; rows are virtualised, so a project of thousands of sessions keeps only
 * the rows in view (plus a small overscan) in the DOM.
 */
export function ProjectSessions() {
  // From the URL, not the project document: the listing starts without waiting for the project.
  const { projectId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const sort = (COLUMNS.some((c) => c.key === params.get('sort')) ? params.get('sort') : 'subject') as SortKey;
  const desc = params.get('dir') === 'desc';
  const [open, setOpen] = useState<Set<string>>(() => new Set());
  const [selected, setSelected] = useState<Set<string>>(() => new Set());
  const [dialog, setDialog] = useState<'batch-selected' | 'batch-project' | 'tag'>();

  // The first screen's rows come from a small sorted page; the whole listing, which sorting and
  // filtering work over, is asked for once that page is in (not beside it: the server would build
  // the large answer first, and the page and the session check would wait behind it).
  const qc = useQueryClient();
  const whole = sessionsQuery(projectId);
  const firstOpts = qc.getQueryData(whole.queryKey) ? undefined : firstPageQuery(projectId, sort, desc, q);
  const first = useQuery({
    queryKey: firstOpts?.queryKey ?? ['project', projectId, 'sessions', 'first'],
    queryFn: firstOpts?.queryFn ?? skipToken,
  });
  const sessions = useQuery({ ...whole, enabled: !firstOpts || first.isFetched });
  const listed = sessions.data ?? first.data?.results;
  const total = sessions.data?.length ?? first.data?.total;
  const acquisitions = useQuery({
    ...projectAcquisitionsQuery(projectId),
    // After the sessions: the rows show first, and the server is not asked for both at once.
    enabled: sessions.isSuccess,
  });

  const sessionRows = useMemo(() => {
    const bySession = new Map<string, Acquisition[]>();
    for (const a of acquisitions.data ?? []) {
      const list = bySession.get(a.session);
      if (list) list.push(a);
      else bySession.set(a.session, [a]);
    }
    const needle = q.trim().toLowerCase();
    const rows: SessionRow[] = [];
    for (const s of listed ?? []) {
      const acqs = (bySession.get(s._id) ?? []).sort((x, y) => collator.compare(x.label, y.label));
      const subject = s.subject.label ?? s.subject.code ?? s.subject._id;
      if (needle && ![subject, s.label, ...acqs.map((a) => a.label)].some((l) => l.toLowerCase().includes(needle))) continue;
      const allFiles = [...s.files, ...acqs.flatMap((a) => a.files)];
      rows.push({
        kind: 'session',
        session: s,
        subject,
        acquisitions: acqs,
        files: allFiles.length,
        modalities: modalitiesOf(allFiles),
        classification: classificationOf(allFiles),
        date: s.timestamp ?? acqs.find((a) => a.timestamp)?.timestamp ?? null,
      });
    }
    rows.sort((a, b) => (desc ? -1 : 1) * compare(a, b, sort));
    return rows;
  }, [listed, acquisitions.data, q, sort, desc]);

  const rows = useMemo(() => {
    const out: Row[] = [];
    for (const r of sessionRows) {
      out.push(r);
      if (open.has(r.session._id)) {
        for (const a of r.acquisitions)
          out.push({ kind: 'acquisition', acquisition: a, modalities: modalitiesOf(a.files), classification: classificationOf(a.files) });
      }
    }
    return out;
  }, [sessionRows, open]);

  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
  });

  const setParam = (patch: Record<string, string | undefined>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(patch)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    setParams(next, { replace: true });
  };
  const toggle = (id: string) =>
    setOpen((prev) => {
      const next = new Set(prev);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const select = (id: string, on: boolean) =>
    setSelected((prev) => {
      const next = new Set(prev);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });
  const shownIds = sessionRows.map((r) => r.session._id);
  const allShown = shownIds.length > 0 && shownIds.every((id) => selected.has(id));
  const chosen = (listed ?? []).filter((s) => selected.has(s._id));

  const error = sessions.error ?? acquisitions.error;
  return (
    <section aria-label="Sessions" className="tab-body">
      <div className="toolbar">
        <label className="search">
          <span className="sr-only">Filter by subject, session or acquisition label</span>
          <input
            type="search"
            placeholder="Filter subjects, sessions, acquisitions"
            value={q}
            onChange={(e) => setParam({ q: e.target.value || undefined })}
          />
        </label>
        {total !== undefined && (
          <span className="muted" data-testid="session-count" aria-live="polite">
            {sessionRows.length.toLocaleString()} of {total.toLocaleString()} sessions
            {!sessions.data && total > sessionRows.length && ' (loading the rest…)'}
          </span>
        )}
        <span className="toolbar-actions">
          {selected.size > 0 && (
            <span className="muted" data-testid="selected-count">
              {selected.size.toLocaleString()} selected
            </span>
          )}
          <button type="button" className="btn btn-small" disabled={!selected.size} onClick={() => setDialog('batch-selected')}>
            Run a gear on selected…
          </button>
          <button type="button" className="btn btn-small" disabled={!selected.size} onClick={() => setDialog('tag')}>
            Tag selected…
          </button>
          <button type="button" className="btn btn-small" onClick={() => setDialog('batch-project')}>
            Run a gear on the whole project…
          </button>
        </span>
      </div>
      <Suspense fallback={null}>
        {dialog === 'batch-selected' && (
          <BatchRunDialog
            projectId={projectId}
            targets={chosen.map((s) => ({ type: 'session', id: s._id }))}
            what={`${chosen.length} selected session${chosen.length === 1 ? '' : 's'}`}
            onClose={() => setDialog(undefined)}
          />
        )}
        {dialog === 'batch-project' && (
          <BatchRunDialog
            projectId={projectId}
            targets={[{ type: 'project', id: projectId }]}
            what="the whole project"
            onClose={() => setDialog(undefined)}
          />
        )}
        {dialog === 'tag' && (
          <BulkTagDialog
            sessions={chosen.map((s) => ({ id: s._id, label: `${s.subject.label ?? s.subject.code ?? ''} / ${s.label}` }))}
            onClose={() => setDialog(undefined)}
          />
        )}
      </Suspense>
      {!listed && !sessions.error && <Loading label="Loading sessions…" />}
      {error && (
        <ErrorNote
          error={error}
          retry={() => {
            void sessions.refetch();
            void acquisitions.refetch();
          }}
        />
      )}
      {total === 0 && <Empty>This project has no sessions yet.</Empty>}
      {/* Sessions show as soon as they arrive; acquisition columns fill in when their listing does. */}
      {listed && listed.length > 0 && (
        <div className="vtable vbody" ref={scroller} data-testid="sessions-scroller">
          <table aria-label="Sessions" aria-rowcount={rows.length + 1} className="selectable">
            <thead>
              <tr className="vrow vhead">
                <th className="vcell vcell-select">
                  <input
                    type="checkbox"
                    aria-label="Select all sessions shown"
                    // Until the whole listing is in, "all shown" would be only the first page.
                    disabled={!sessions.data}
                    checked={allShown}
                    onChange={(e) =>
                      setSelected((prev) => {
                        const next = new Set(prev);
                        for (const id of shownIds) {
                          if (e.target.checked) next.add(id);
                          else next.delete(id);
                        }
                        return next;
                      })
                    }
                  />
                </th>
                <th className="vcell vcell-toggle">
                  <span className="sr-only">Expand</span>
                </th>
                {COLUMNS.map((c) => (
                  <th
                    key={c.key}
                    scope="col"
                    className={`vcell vcell-${c.key}${'num' in c ? ' num' : ''}`}
                    aria-sort={sort === c.key ? (desc ? 'descending' : 'ascending') : 'none'}
                  >
                    <button
                      type="button"
                      className="sort"
                      onClick={() => setParam({ sort: c.key, dir: sort === c.key && !desc ? 'desc' : undefined })}
                    >
                      {c.label}
                      <span className="sort-mark" aria-hidden="true">
                        {sort === c.key ? (desc ? '▾' : '▴') : ''}
                      </span>
                    </button>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody style={{ height: virtual.getTotalSize() }}>
              {virtual.getVirtualItems().map((item) => {
                const row = rows[item.index]!;
                const style = { transform: `translateY(${item.start}px)`, height: ROW_HEIGHT };
                if (row.kind === 'acquisition') {
                  const a = row.acquisition;
                  return (
                    <tr key={a._id} className="vrow vrow-child" aria-rowindex={item.index + 2} style={style} data-acquisition={a._id}>
                      <td className="vcell vcell-select" />
                      <td className="vcell vcell-toggle" />
                      <td className="vcell vcell-subject" />
                      <td className="vcell vcell-session truncate">
                        <span className="tree" aria-hidden="true">
                          └
                        </span>
                        <Link to={`/acquisitions/${a._id}`}>{a.label}</Link>
                      </td>
                      <td className="vcell vcell-date">{formatDate(a.timestamp)}</td>
                      <td className="vcell vcell-acquisitions num" />
                      <td className="vcell vcell-files num">{a.files.length}</td>
                      <td className="vcell vcell-modality">{row.modalities.join(', ') || '—'}</td>
                      <td className="vcell vcell-classification truncate">{row.classification.join(', ') || '—'}</td>
                    </tr>
                  );
                }
                const s = row.session;
                const expanded = open.has(s._id);
                return (
                  <tr key={s._id} className="vrow" aria-rowindex={item.index + 2} style={style} data-session={s._id}>
                    <td className="vcell vcell-select">
                      <input
                        type="checkbox"
                        aria-label={`Select ${row.subject} / ${s.label}`}
                        checked={selected.has(s._id)}
                        onChange={(e) => select(s._id, e.target.checked)}
                      />
                    </td>
                    <td className="vcell vcell-toggle">
                      {row.acquisitions.length > 0 && (
                        <button
                          type="button"
                          className="twisty"
                          aria-expanded={expanded}
                          aria-label={`${expanded ? 'Hide' : 'Show'} acquisitions of ${row.subject} / ${s.label}`}
                          onClick={() => toggle(s._id)}
                        >
                          {expanded ? '▾' : '▸'}
                        </button>
                      )}
                    </td>
                    <td className="vcell vcell-subject truncate strong">{row.subject}</td>
                    <td className="vcell vcell-session truncate">
                      <Link to={`/sessions/${s._id}`}>{s.label}</Link>
                    </td>
                    <td className="vcell vcell-date">{formatDate(row.date)}</td>
                    <td className="vcell vcell-acquisitions num">{acquisitions.data ? row.acquisitions.length : '…'}</td>
                    <td className="vcell vcell-files num">{row.files}</td>
                    <td className="vcell vcell-modality">{row.modalities.join(', ') || '—'}</td>
                    <td className="vcell vcell-classification truncate">{row.classification.join(', ') || '—'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
