import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import { api } from '../api/client.js';
import type { FileDoc, Job, JobLog } from '../api/types.js';
import { ErrorNote, formatBytes, formatTime, Loading, StateBadge } from '../components/common.js';
import { elapsed, JobActions, launchedBy } from '../components/JobsTable.js';

interface JobDetail extends Omit<Job, 'inputs'> {
  inputs: Record<string, (FileDoc & { type?: string; id?: string }) | undefined>;
  outputs: FileDoc[];
  parent_info: { _id: string; label: string; type: string } | null;
}

const ACTIVE = new Set(['pending', 'running']);

/** The log, tailed while the job runs (the engine streams it in; the page asks again each second). */
function LogTail({ job }: { job: Pick<Job, 'id' | 'state'> }) {
  const active = ACTIVE.has(job.state);
  const log = useQuery({
    queryKey: ['job', job.id, 'log'],
    queryFn: ({ signal }) => api.get<JobLog>(`/jobs/${job.id}/logs`, undefined, signal),
    refetchInterval: active ? 1000 : false,
  });
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLPreElement>(null);
  const lines = log.data?.logs ?? [];
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll again whenever lines arrive
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines.length, follow]);
  return (
    <section className="card" aria-labelledby="log-h">
      <div className="card-head">
        <h2 id="log-h">Log</h2>
        <span className="muted">{lines.length.toLocaleString()} lines</span>
        <label className="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <a className="btn btn-small" href={`/api/jobs/${job.id}/logs/text`} download={`job-${job.id}.log`}>
          Download
        </a>
      </div>
      {log.error && <ErrorNote error={log.error} retry={() => void log.refetch()} />}
      <pre className="log" ref={box} data-testid="job-log">
        {lines.length === 0 ? <span className="muted">{active ? 'Waiting for output…' : 'This job wrote no log.'}</span> : null}
        {lines.map((l, i) => (
          // Lines have no identity beyond their position in an append-only log.
          // biome-ignore lint/suspicious/noArrayIndexKey: see above
          <span key={i} className={l.fd === 2 ? 'log-err' : l.fd === -1 ? 'log-sys' : undefined}>
            {l.msg.replace(/\n$/, '')}
          </span>
        ))}
      </pre>
    </section>
  );
}

function FileList({ files, empty }: { files: { name: string; size?: number; type?: string | null }[]; empty: string }) {
  if (!files.length) return <p className="muted">{empty}</p>;
  return (
    <ul className="file-list">
      {files.map((f) => (
        <li key={f.name}>
          <span className="mono truncate">{f.name}</span>
          <span className="muted">{f.type ?? ''}</span>
          <span className="muted num">{formatBytes(f.size)}</span>
        </li>
      ))}
    </ul>
  );
}

export function JobPage() {
  const { jobId = '' } = useParams();
  const job = useQuery({
    queryKey: ['job', jobId],
    queryFn: ({ signal }) => api.get<JobDetail>(`/jobs/${jobId}/detail`, undefined, signal),
  });
  const [now, setNow] = useState(Date.now());
  const running = job.data?.state === 'running';
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [running]);

  if (job.isPending) return <Loading />;
  if (job.error) return <ErrorNote error={job.error} retry={() => void job.refetch()} />;
  const j = job.data;
  const projectId = j.parents.project;
  return (
    <div className="page job">
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to="/">Projects</Link>
        {projectId && (
          <>
            <span aria-hidden="true">/</span>
            <Link to={`/projects/${projectId}/jobs`}>Project jobs</Link>
          </>
        )}
      </nav>
      <div className="page-head">
        <h1>
          {j.gear_info.name} <span className="muted mono">v{j.gear_info.version}</span>
        </h1>
        <StateBadge state={j.state} />
        <JobActions job={j} />
        <Link className="btn" to={`/gears/${j.gear_id}?run=1&from=${j.id}`}>
          Run again…
        </Link>
      </div>
      {j.failure_reason && (
        <div className="banner banner-error" role="status">
          Failed: {j.failure_reason}
          {j.exit_code !== null && j.exit_code !== undefined ? ` (exit code ${j.exit_code})` : ''}
        </div>
      )}
      <dl className="facts card">
        <div>
          <dt>Job</dt>
          <dd className="mono">{j.id}</dd>
        </div>
        <div>
          <dt>Destination</dt>
          <dd>
            <span className="muted">{j.destination.type}</span> {j.parent_info?.label ?? j.destination.id}
          </dd>
        </div>
        <div>
          <dt>Launched by</dt>
          <dd>{launchedBy(j)}</dd>
        </div>
        <div>
          <dt>Queued</dt>
          <dd>{formatTime(j.created)}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{formatTime(j.transitions.running)}</dd>
        </div>
        <div>
          <dt>Elapsed</dt>
          <dd>{elapsed(j, now)}</dd>
        </div>
        <div>
          <dt>Attempt</dt>
          <dd>{j.attempt}</dd>
        </div>
      </dl>
      <div className="two-col">
        <section className="card" aria-labelledby="in-h">
          <h2 id="in-h">Inputs</h2>
          <FileList
            files={Object.entries(j.inputs)
              .filter(([, f]) => f)
              .map(([k, f]) => ({ ...f!, name: `${k}: ${f!.name}` }))}
            empty="No file inputs."
          />
        </section>
        <section className="card" aria-labelledby="out-h">
          <h2 id="out-h">Outputs</h2>
          <FileList files={j.outputs} empty={ACTIVE.has(j.state) ? 'Outputs appear when the job completes.' : 'No outputs.'} />
        </section>
      </div>
      <LogTail job={j} />
    </div>
  );
}
