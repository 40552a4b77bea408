import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useMemo, useState } from 'react';
import { Link } from 'react-router';
import { api, messageOf } from '../api/client.js';
import { configFields, initialText, parseField } from '../api/config-form.js';
import type { GearDoc } from '../api/gears.js';
import type { ContainerSummary } from '../api/types.js';
import { ErrorNote, Loading } from './common.js';
import { ConfigInput, Modal } from './RunDialog.js';

interface ProposedEntry {
  _id: string;
  container_type: string;
  label: string;
  reason?: string;
}
/** POST /batch's answer (jobs/batch-proposal.ts): what would run where, and what would not and why. */
interface Proposal {
  _id: string | null;
  matched: ProposedEntry[];
  ambiguous: ProposedEntry[];
  not_matched: ProposedEntry[];
  improper_permissions: string[];
  containers: Record<string, ContainerSummary>;
}
/** GET /batch/{id}. */
interface BatchDoc {
  _id: string;
  state: string;
  jobs: string[];
  job_states: Record<string, number>;
  matched: number;
}

const VERDICTS = [
  { key: 'matched', label: 'Matched: will run' },
  { key: 'ambiguous', label: 'Ambiguous: will not run' },
  { key: 'not_matched', label: 'Not matched: will not run' },
] as const;

/** Complete, failed, running and queued shares of a batch's jobs, as one bar; failed jobs can be retried in one go. */
export function BatchProgress({ batch }: { batch: BatchDoc }) {
  const qc = useQueryClient();
  const total = batch.jobs.length || 1;
  const n = (s: string) => batch.job_states[s] ?? 0;
  const done = n('complete') + n('failed') + n('cancelled');
  const retry = useMutation({
    mutationFn: () => api.post<{ number_retried: number; jobs: string[] }>(`/batch/${batch._id}/retry-failed`, {}),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['jobs'] }),
  });
  return (
    <div className="batch-progress" data-testid="batch-progress" data-state={batch.state}>
      <div
        className="progress"
        role="progressbar"
        aria-label="Batch progress"
        aria-valuemin={0}
        aria-valuemax={batch.jobs.length}
        aria-valuenow={done}
      >
        <span className="p-complete" style={{ width: `${(100 * n('complete')) / total}%` }} />
        <span className="p-failed" style={{ width: `${(100 * (n('failed') + n('cancelled'))) / total}%` }} />
        <span className="p-running" style={{ width: `${(100 * n('running')) / total}%` }} />
      </div>
      <p className="muted">
        {done} of {batch.jobs.length} done · {n('complete')} complete, {n('failed')} failed, {n('running')} running, {n('pending')} queued ·
        batch {batch.state}
      </p>
      {n('failed') > 0 && n('pending') + n('running') === 0 && (
        <button type="button" className="btn btn-small" disabled={retry.isPending} onClick={() => retry.mutate()}>
          Retry {n('failed')} failed
        </button>
      )}
      {retry.data && (
        <p role="status">
          Re-queued {retry.data.number_retried} failed job{retry.data.number_retried === 1 ? '' : 's'}.
        </p>
      )}
      {retry.error && (
        <p className="form-error" role="alert">
          {messageOf(retry.error)}
        </p>
      )}
    </div>
  );
}

/**
 * Batch run over sessions (or a whole project): pick a gear and its config, see the server's
 * proposal (matched / ambiguous with the reason / not matched with the reason) before anything
 * runs, then run it and watch its progress (job events keep the batch fresh).
 */
export function BatchRunDialog({
  projectId,
  targets,
  what,
  onClose,
}: {
  projectId: string;
  targets: { type: string; id: string }[];
  what: string;
  onClose: () => void;
}) {
  const qc = useQueryClient();
  const formId = useId();
  const gears = useQuery({
    queryKey: ['gears', 'latest'],
    queryFn: ({ signal }) => api.get<GearDoc[]>('/gears', undefined, signal),
    // Asked again on each opening: a gear installed meanwhile is offered.
    staleTime: 0,
  });
  const [gearId, setGearId] = useState('');
  const gear = gears.data?.find((g) => g._id === gearId);
  const fields = useMemo(() => (gear ? configFields(gear.gear) : []), [gear]);
  const [texts, setTexts] = useState<Record<string, string>>({});
  const textOf = (k: string) => texts[k] ?? initialText(fields.find((f) => f.key === k)!, undefined);
  const parsed = Object.fromEntries(fields.map((f) => [f.key, parseField(f, textOf(f.key))]));
  const bad = Object.values(parsed).some((p) => !p.ok);

  const propose = useMutation({
    mutationFn: () => {
      const config: Record<string, unknown> = {};
      for (const [k, p] of Object.entries(parsed)) if (p.ok && !p.empty) config[k] = p.value;
      return api.post<Proposal>('/batch', { gear_id: gearId, targets, config });
    },
  });
  const runIt = useMutation({
    mutationFn: (id: string) => api.post<unknown[]>(`/batch/${id}/run`),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['jobs'] }),
  });
  const batchId = runIt.isSuccess ? propose.data?._id : undefined;
  const batch = useQuery({
    // Under 'jobs': every job event (api/live.ts) marks it stale, so the bar moves as jobs do.
    queryKey: ['jobs', 'batch', batchId],
    queryFn: ({ signal }) => api.get<BatchDoc>(`/batch/${batchId}`, undefined, signal),
    enabled: !!batchId,
    staleTime: 0,
  });
  const p = propose.data;
  const label = (e: ProposedEntry) => p?.containers[e._id]?.path ?? e.label;

  return (
    <Modal title={`Batch run on ${what}`} onClose={onClose} wide>
      {!p && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (gearId && !bad) propose.mutate();
          }}
        >
          {gears.isPending && <Loading label="Loading gears…" />}
          {gears.error && <ErrorNote error={gears.error} />}
          <div className="field">
            <label htmlFor={`${formId}-gear`}>Gear</label>
            <select
              id={`${formId}-gear`}
              value={gearId}
              onChange={(e) => {
                setGearId(e.target.value);
                setTexts({});
              }}
            >
              <option value="">Choose a gear…</option>
              {gears.data?.map((g) => (
                <option key={g._id} value={g._id}>
                  {g.gear.name} {g.gear.version}
                </option>
              ))}
            </select>
          </div>
          {fields.length > 0 && (
            <fieldset className="run-section">
              <legend>Configuration</legend>
              <div className="config-grid">
                {fields.map((f) => {
                  const r = parsed[f.key]!;
                  return (
                    <ConfigInput
                      key={f.key}
                      f={f}
                      text={textOf(f.key)}
                      setText={(t) => setTexts({ ...texts, [f.key]: t })}
                      error={r.ok ? undefined : r.message}
                    />
                  );
                })}
              </div>
            </fieldset>
          )}
          {propose.error && (
            <p className="form-error" role="alert">
              {messageOf(propose.error)}
            </p>
          )}
          <div className="actions">
            <button type="button" className="btn" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="btn btn-primary" disabled={!gearId || bad || propose.isPending}>
              {propose.isPending ? 'Matching…' : 'Show what would run'}
            </button>
          </div>
        </form>
      )}
      {p && (
        <div data-testid="batch-proposal">
          <p className="counts">
            <strong>{p.matched.length}</strong> matched · <strong>{p.ambiguous.length}</strong> ambiguous ·{' '}
            <strong>{p.not_matched.length}</strong> not matched
            {p.improper_permissions.length > 0 && (
              <>
                {' '}
                · <strong>{p.improper_permissions.length}</strong> you may not run on
              </>
            )}
          </p>
          <table className="table" aria-label="Proposal">
            <thead>
              <tr>
                <th scope="col">Container</th>
                <th scope="col">Verdict</th>
                <th scope="col">Why</th>
              </tr>
            </thead>
            <tbody>
              {VERDICTS.flatMap((v) =>
                p[v.key].map((e) => (
                  <tr key={e._id} data-verdict={v.key}>
                    <td>
                      <span className="muted">{e.container_type}</span> {label(e)}
                    </td>
                    <td className={`verdict-${v.key}`}>{v.label}</td>
                    <td>{e.reason ?? '—'}</td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
          {runIt.error && (
            <p className="form-error" role="alert">
              {messageOf(runIt.error)}
            </p>
          )}
          {!runIt.isSuccess && (
            <div className="actions">
              <button type="button" className="btn" onClick={onClose}>
                Cancel
              </button>
              <button
                type="button"
                className="btn btn-primary"
                disabled={!p._id || p.matched.length === 0 || runIt.isPending}
                onClick={() => runIt.mutate(p._id!)}
              >
                {runIt.isPending ? 'Launching…' : `Run ${p.matched.length} job${p.matched.length === 1 ? '' : 's'}`}
              </button>
            </div>
          )}
          {batch.data && <BatchProgress batch={batch.data} />}
          {runIt.isSuccess && (
            <div className="actions">
              <Link className="btn" to={`/projects/${projectId}/jobs`}>
                See the jobs
              </Link>
              <button type="button" className="btn" onClick={onClose}>
                Close
              </button>
            </div>
          )}
        </div>
      )}
    </Modal>
  );
}

/** Adds one tag to each selected session, showing how far it got and what failed. */
export function BulkTagDialog({ sessions, onClose }: { sessions: { id: string; label: string }[]; onClose: () => void }) {
  const qc = useQueryClient();
  const [tag, setTag] = useState('');
  const [done, setDone] = useState(0);
  const [failures, setFailures] = useState<string[]>([]);
  const tagAll = useMutation({
    mutationFn: async () => {
      setDone(0);
      setFailures([]);
      for (const s of sessions) {
        try {
          await api.post(`/sessions/${s.id}/tags`, { value: tag.trim() });
        } catch (e) {
          // Already tagged is what was asked for; anything else is reported per session.
          if (!/already/i.test(messageOf(e))) setFailures((f) => [...f, `${s.label}: ${messageOf(e)}`]);
        }
        setDone((n) => n + 1);
      }
    },
    onSettled: () => void qc.invalidateQueries({ queryKey: ['project'] }),
  });
  return (
    <Modal title={`Tag ${sessions.length} session${sessions.length === 1 ? '' : 's'}`} onClose={onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (tag.trim()) tagAll.mutate();
        }}
      >
        <label className="field">
          Tag
          <input value={tag} onChange={(e) => setTag(e.target.value)} maxLength={256} />
        </label>
        {(tagAll.isPending || tagAll.isSuccess) && (
          <p role="status">
            Tagged {done} of {sessions.length}
            {tagAll.isSuccess && failures.length === 0 ? '. Done.' : '…'}
          </p>
        )}
        {failures.map((f) => (
          <p key={f} className="form-error">
            {f}
          </p>
        ))}
        <div className="actions">
          <button type="button" className="btn" onClick={onClose}>
            Close
          </button>
          <button type="submit" className="btn btn-primary" disabled={!tag.trim() || tagAll.isPending}>
            Add tag
          </button>
        </div>
      </form>
    </Modal>
  );
}
