import { JOB_PRIORITIES, JOB_STATES, type JobPriority } from '@sprocket/types/jobs';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { useSearchParams } from 'react-router';
import { api, messageOf } from '../api/client.js';
import type { Job, JobListing, Project } from '../api/types.js';
import { useAuth } from '../auth.js';
import { ErrorNote, Loading } from '../components/common.js';
import { JobsTable } from '../components/JobsTable.js';

/** The most rows one page of this view asks for; the count beside the filters says when there are more. */
const PAGE = 500;

/** The filters, as they are kept in the URL (so a filtered view can be bookmarked and shared). */
const FILTERS = ['state', 'gear', 'tag', 'project', 'from', 'to'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

/** Flywheel's filter language escapes a comma inside a value as `\,`. */
const esc = (v: string) => v.replace(/,/g, '\\,');

/** The query GET /jobs answers for these filters. Dates are whole days in the browser's time zone. */
export function jobsQuery(f: Filters): Record<string, string | number> {
  const terms: string[] = [];
  if (f.gear) terms.push(`gear_info.name=${esc(f.gear)}`);
  if (f.project) terms.push(`parents.project=${esc(f.project)}`);
  if (f.from) terms.push(`created>=${new Date(`${f.from}T00:00:00`).toISOString()}`);
  if (f.to) terms.push(`created<${new Date(new Date(`${f.to}T00:00:00`).getTime() + 86_400_000).toISOString()}`);
  return {
    sort: 'created:desc',
    limit: PAGE,
    include: 'containers',
    ...(f.state ? { states: f.state } : {}),
    // A tag may hold spaces inside; only those around it are dropped (trimming while typing would eat them).
    ...(f.tag.trim() ? { tags: f.tag.trim() } : {}),
    ...(terms.length ? { filter: terms.join(',') } : {}),
  };
}

interface BulkOutcome {
  done: number;
  failed: { id: string; reason: string }[];
}

/**
 * Every job the signed-in user may see (everyone's for site admins), filtered by state, gear, tag,
 * project and date; rows change state live. Selected jobs can be cancelled, retried or given another
 * priority at once: each job is its own request, so one refusal (a job that finished meanwhile) is
 * reported by name and does not stop the rest.
 */
export function JobsPage() {
  const { user } = useAuth();
  const qc = useQueryClient();
  const [params, setParams] = useSearchParams();
  const filters = Object.fromEntries(FILTERS.map((k) => [k, params.get(k) ?? ''])) as Filters;
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState<string>();
  const [outcome, setOutcome] = useState<BulkOutcome & { action: string }>();

  const query = jobsQuery(filters);
  const jobs = useQuery({
    queryKey: ['jobs', 'all', query],
    queryFn: ({ signal }) => api.get<JobListing>('/jobs', query, signal),
    enabled: !!user,
  });
  const projects = useQuery({ queryKey: ['projects'], queryFn: () => api.get<Project[]>('/projects') });
  const gears = useQuery({
    queryKey: ['gears', 'names'],
    queryFn: () => api.get<{ gear: { name: string } }[]>('/gears'),
  });
  const gearNames = useMemo(() => [...new Set((gears.data ?? []).map((g) => g.gear.name))].sort(), [gears.data]);

  const shown = jobs.data?.jobs ?? [];
  const chosen = shown.filter((j) => selected.has(j.id));
  const set = (k: keyof Filters, v: string) => {
    const next = new URLSearchParams(params);
    if (v) next.set(k, v);
    else next.delete(k);
    setParams(next, { replace: true });
    setSelected(new Set());
  };

  async function bulk(action: string, run: (j: Job) => Promise<unknown>) {
    setBusy(action);
    setOutcome(undefined);
    const out: BulkOutcome = { done: 0, failed: [] };
    for (const j of chosen) {
      try {
        await run(j);
        out.done++;
      } catch (e) {
        out.failed.push({ id: j.id, reason: messageOf(e) });
      }
    }
    setBusy(undefined);
    setOutcome({ ...out, action });
    setSelected(new Set(out.failed.map((f) => f.id)));
    await qc.invalidateQueries({ queryKey: ['jobs'] });
  }

  const cancellable = chosen.filter((j) => j.state === 'pending' || j.state === 'running');
  const retryable = chosen.filter((j) => (j.state === 'failed' || j.state === 'cancelled') && !j.retried);
  const pending = chosen.filter((j) => j.state === 'pending');

  return (
    <div className="page">
      <div className="page-head">
        <h1>Jobs</h1>
        <span className="muted">
          {user?.roles?.includes('site_admin') ? 'Everyone’s jobs' : 'Jobs you launched and jobs on data you may see'}
        </span>
      </div>
      <form className="toolbar" aria-label="Filter jobs" onSubmit={(e) => e.preventDefault()}>
        <label className="select">
          <span>State</span>
          <select value={filters.state} onChange={(e) => set('state', e.target.value)}>
            <option value="">all</option>
            {JOB_STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label className="select">
          <span>Gear</span>
          <select value={filters.gear} onChange={(e) => set('gear', e.target.value)}>
            <option value="">all</option>
            {gearNames.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        </label>
        <label className="select">
          <span>Project</span>
          <select value={filters.project} onChange={(e) => set('project', e.target.value)}>
            <option value="">all</option>
            {(projects.data ?? []).map((p) => (
              <option key={p._id} value={p._id}>
                {p.label}
              </option>
            ))}
          </select>
        </label>
        <label className="select">
          <span>Tag</span>
          <input type="text" value={filters.tag} maxLength={256} onChange={(e) => set('tag', e.target.value)} placeholder="any" />
        </label>
        <label className="select">
          <span>From</span>
          <input type="date" value={filters.from} onChange={(e) => set('from', e.target.value)} />
        </label>
        <label className="select">
          <span>To</span>
          <input type="date" value={filters.to} onChange={(e) => set('to', e.target.value)} />
        </label>
        {jobs.data && (
          <span className="muted" data-testid="jobs-count">
            {shown.length === PAGE ? `the newest ${PAGE}` : `${shown.length.toLocaleString()} jobs`}
          </span>
        )}
      </form>
      <fieldset className="toolbar bulk">
        <legend className="sr-only">Selected jobs</legend>
        <span>{chosen.length ? `${chosen.length} selected` : 'Select jobs to act on several at once'}</span>
        <button
          type="button"
          className="btn btn-small"
          disabled={!cancellable.length || !!busy}
          onClick={() => void bulk('cancel', (j) => api.put(`/jobs/${j.id}`, { state: 'cancelled' }))}
        >
          Cancel {cancellable.length || ''}
        </button>
        <button
          type="button"
          className="btn btn-small"
          disabled={!retryable.length || !!busy}
          onClick={() => void bulk('retry', (j) => api.post(`/jobs/${j.id}/retry${j.state === 'failed' ? '' : '?ignoreState=true'}`))}
        >
          Retry {retryable.length || ''}
        </button>
        <label className="select">
          <span>Priority of {pending.length || 'no'} pending</span>
          <select
            value=""
            disabled={!pending.length || !!busy}
            onChange={(e) => {
              const priority = e.target.value as JobPriority;
              if (priority)
                void bulk(`priority ${priority}`, (j) =>
                  j.state === 'pending' ? api.put(`/jobs/${j.id}`, { priority }) : Promise.resolve(),
                );
            }}
          >
            <option value="">set…</option>
            {Object.keys(JOB_PRIORITIES).map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
        {busy && <Loading label={`${busy}…`} />}
      </fieldset>
      {outcome && (
        <div className={`banner ${outcome.failed.length ? 'banner-error' : 'banner-ok'}`} role="status" data-testid="bulk-outcome">
          <span>
            {outcome.action}: {outcome.done} done
            {outcome.failed.length > 0 && `, ${outcome.failed.length} refused`}
          </span>
          {outcome.failed.length > 0 && (
            <ul>
              {outcome.failed.map((f) => (
                <li key={f.id}>
                  <span className="mono">{f.id}</span>: {f.reason}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {jobs.isPending && <Loading />}
      {jobs.error && <ErrorNote error={jobs.error} retry={() => void jobs.refetch()} />}
      {jobs.data && (
        <JobsTable
          jobs={shown}
          containers={jobs.data.containers}
          selection={{
            selected,
            toggle: (id) =>
              setSelected((s) => {
                const n = new Set(s);
                if (n.has(id)) n.delete(id);
                else n.add(id);
                return n;
              }),
            toggleAll: () => setSelected((s) => (s.size === shown.length ? new Set() : new Set(shown.map((j) => j.id)))),
          }}
        />
      )}
    </div>
  );
}
