import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { api, messageOf } from '../api/client.js';
import type { ContainerSummary, Job } from '../api/types.js';
import { Empty, formatDuration, formatTime, InlineError, StateBadge } from './common.js';

export function launchedBy(job: Pick<Job, 'origin'>): string {
  const o = job.origin;
  if (o.via?.type === 'rule') return `rule ${o.via.name ?? o.via.id}`;
  if (o.via?.type === 'job') return `${o.id ?? 'a job'} (through job ${o.via.id.slice(-6)})`;
  if (o.type === 'user') return o.id ?? 'a user';
  return o.id ? `${o.type} ${o.id}` : o.type;
}

export function elapsed(job: Pick<Job, 'transitions'>, now: number): string {
  const start = job.transitions.running;
  if (!start) return '—';
  const end = job.transitions.complete ?? job.transitions.failed ?? job.transitions.cancelled;
  return formatDuration((end ? Date.parse(end) : now) - Date.parse(start));
}

function inputNames(job: Job): string {
  const names = Object.values(job.inputs)
    .filter((r) => r !== undefined)
    .map((r) => r!.name);
  return names.length ? names.join(', ') : '—';
}

/** Cancel (pending or running) and retry (failed or cancelled) for one job. */
export function JobActions({ job }: { job: Pick<Job, 'id' | 'state' | 'retried'> }) {
  const qc = useQueryClient();
  const [error, setError] = useState<string>();
  const done = () => {
    void qc.invalidateQueries({ queryKey: ['jobs'] });
    void qc.invalidateQueries({ queryKey: ['job', job.id] });
  };
  const cancel = useMutation({
    mutationFn: () => api.put(`/jobs/${job.id}`, { state: 'cancelled' }),
    onSuccess: done,
    onError: (e) => setError(messageOf(e)),
  });
  const retry = useMutation({
    mutationFn: () => api.post(`/jobs/${job.id}/retry${job.state === 'failed' ? '' : '?ignoreState=true'}`),
    onSuccess: done,
    onError: (e) => setError(messageOf(e)),
  });
  const canCancel = job.state === 'pending' || job.state === 'running';
  const canRetry = (job.state === 'failed' || job.state === 'cancelled') && !job.retried;
  return (
    <span className="actions">
      {canCancel && (
        <button
          type="button"
          className="btn btn-small"
          disabled={cancel.isPending}
          onClick={() => cancel.mutate()}
          aria-label={`Cancel job ${job.id}`}
        >
          Cancel
        </button>
      )}
      {canRetry && (
        <button
          type="button"
          className="btn btn-small"
          disabled={retry.isPending}
          onClick={() => retry.mutate()}
          aria-label={`Retry job ${job.id}`}
        >
          Retry
        </button>
      )}
      <InlineError error={error} />
    </span>
  );
}

/** Row selection for bulk actions: the table shows a checkbox per row and one for all rows. */
export interface JobSelection {
  selected: ReadonlySet<string>;
  toggle(id: string): void;
  toggleAll(): void;
}

export function JobsTable({
  jobs,
  containers,
  compact = false,
  selection,
}: {
  jobs: Job[];
  containers: Record<string, ContainerSummary>;
  compact?: boolean;
  selection?: JobSelection;
}) {
  const now = Date.now();
  if (!jobs.length) return <Empty>No jobs yet.</Empty>;
  return (
    <div className="table-wrap">
      <table className="table">
        <thead>
          <tr>
            {selection && (
              <th scope="col" className="cell-check">
                <input
                  type="checkbox"
                  aria-label="Select all jobs shown"
                  checked={jobs.length > 0 && selection.selected.size === jobs.length}
                  onChange={selection.toggleAll}
                />
              </th>
            )}
            <th scope="col">State</th>
            <th scope="col">Gear</th>
            {!compact && <th scope="col">Inputs</th>}
            <th scope="col">Destination</th>
            <th scope="col">Queued</th>
            {!compact && <th scope="col">Started</th>}
            <th scope="col">Elapsed</th>
            {!compact && <th scope="col">Launched by</th>}
            {!compact && (
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {jobs.map((j) => {
            const dest = containers[j.destination.id];
            return (
              <tr key={j.id} data-job={j.id} className={selection?.selected.has(j.id) ? 'selected' : undefined}>
                {selection && (
                  <td className="cell-check">
                    <input
                      type="checkbox"
                      aria-label={`Select job ${j.id} (${j.gear_info.name ?? 'gear'}, ${j.state})`}
                      checked={selection.selected.has(j.id)}
                      onChange={() => selection.toggle(j.id)}
                    />
                  </td>
                )}
                <td>
                  <StateBadge state={j.state} />
                </td>
                <td>
                  <Link to={`/jobs/${j.id}`} className="strong">
                    {j.gear_info.name ?? 'gear'}
                  </Link>{' '}
                  <span className="muted mono">{j.gear_info.version ? `v${j.gear_info.version}` : ''}</span>
                </td>
                {!compact && <td className="truncate">{inputNames(j)}</td>}
                <td className="truncate" title={dest?.path}>
                  <span className="muted">{j.destination.type}</span> {dest?.label ?? j.destination.id}
                </td>
                <td className="nowrap">{formatTime(j.created)}</td>
                {!compact && <td className="nowrap">{formatTime(j.transitions.running)}</td>}
                <td className="nowrap num">{elapsed(j, now)}</td>
                {!compact && <td className="truncate">{launchedBy(j)}</td>}
                {!compact && (
                  <td className="nowrap">
                    <JobActions job={j} />
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
