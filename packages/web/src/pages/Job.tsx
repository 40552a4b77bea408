import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import { api } from '../api/client.js';
import type { FileDoc, Job, JobLog } from '../api/types.js';
import { ErrorNote, formatBytes, formatDuration, formatTime, Loading, StateBadge } from '../components/common.js';
import { elapsed, JobActions, launchedBy } from '../components/JobsTable.js';

interface JobDetail extends Omit<Job, 'inputs'> {
  /** The input's file entry (or, when it is gone or hidden, the reference the job was given). */
  inputs: Record<string, (FileDoc & { parent_ref?: { type: string; id: string } }) | undefined>;
  profile?: Record<string, unknown>;
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
  const [find, setFind] = useState('');
  const box = useRef<HTMLPreElement>(null);
  const all = log.data?.logs ?? [];
  const needle = find.trim().toLowerCase();
  // Searching shows the matching lines only, and stops following so they stay put.
  const lines = needle ? all.filter((l) => l.msg.toLowerCase().includes(needle)) : all;
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll again whenever lines arrive
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines.length, follow && !needle]);
  return (
    <section className="card" aria-labelledby="log-h">
      <div className="card-head">
        <h2 id="log-h">Log</h2>
        <span className="muted" data-testid="log-count">
          {needle ? `${lines.length.toLocaleString()} of ${all.length.toLocaleString()} lines` : `${all.length.toLocaleString()} lines`}
        </span>
        <label className="search">
          <span className="sr-only">Search the log</span>
          <input type="search" placeholder="Search the log" value={find} onChange={(e) => setFind(e.target.value)} />
        </label>
        <label className="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <a className="btn btn-small" href={`/api/jobs/${job.id}/logs/text`} download={`job-${job.id}.log`}>
          Download
        </a>
      </div>
      {log.error && <ErrorNote error={log.error} retry={() => void log.refetch()} />}
      <pre className="log" ref={box} data-testid="job-log">
        {lines.length === 0 ? (
          <span className="muted">
            {needle ? `No line contains “${find.trim()}”.` : active ? 'Waiting for output…' : 'This job wrote no log.'}
          </span>
        ) : null}
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

interface ListedFile {
  name: string;
  label?: string;
  size?: number;
  type?: string | null;
  /** The container page the file opens on, in its viewer. */
  at?: { type: string; id: string };
}

const CONTAINER_PAGES = new Set(['subject', 'session', 'acquisition', 'analysis']);

function FileList({ files, empty }: { files: ListedFile[]; empty: string }) {
  if (!files.length) return <p className="muted">{empty}</p>;
  return (
    <ul className="file-list">
      {files.map((f) => (
        <li key={f.label ?? f.name}>
          {f.at && CONTAINER_PAGES.has(f.at.type) ? (
            <Link
              className="mono truncate"
              to={`/${f.at.type === 'analysis' ? 'analyses' : `${f.at.type}s`}/${f.at.id}?view=${encodeURIComponent(f.name)}`}
            >
              {f.label ?? f.name}
            </Link>
          ) : (
            <span className="mono truncate">{f.label ?? f.name}</span>
          )}
          <span className="muted">{f.type ?? ''}</span>
          <span className="muted num">{formatBytes(f.size)}</span>
        </li>
      ))}
    </ul>
  );
}

interface GearConfigSpec {
  type?: string;
  default?: unknown;
  description?: string;
}

const shown = (v: unknown) => (v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

/** The job's config beside the gear's defaults: what this run set differently is marked. */
function ConfigTable({ job }: { job: Pick<Job, 'gear_id' | 'config'> }) {
  const gear = useQuery({
    queryKey: ['gear', job.gear_id],
    queryFn: () => api.get<{ gear: { config?: Record<string, GearConfigSpec> } }>(`/gears/${job.gear_id}`),
  });
  const spec = gear.data?.gear.config ?? {};
  // A job's `config` is Flywheel's invocation, `{config, inputs, destination}`; the values are inside.
  const inner = (job.config as { config?: unknown } | undefined)?.config;
  const values = (inner && typeof inner === 'object' ? inner : (job.config ?? {})) as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(spec), ...Object.keys(values)])].sort();
  if (!keys.length) return <p className="muted">This gear takes no configuration.</p>;
  return (
    <table className="table compact" aria-label="Configuration">
      <thead>
        <tr>
          <th scope="col">Option</th>
          <th scope="col">This job</th>
          <th scope="col">Gear default</th>
        </tr>
      </thead>
      <tbody>
        {keys.map((k) => {
          const value = values[k];
          const dflt = spec[k]?.default;
          const changed = value !== undefined && JSON.stringify(value) !== JSON.stringify(dflt);
          return (
            <tr key={k} data-config={k} className={changed ? 'changed' : undefined}>
              <th scope="row" className="mono" title={spec[k]?.description}>
                {k}
              </th>
              <td className="mono">
                {shown(value)}
                {changed && <span className="badge badge-changed">changed</span>}
              </td>
              <td className="mono muted">{shown(dflt)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** What the engine measured: run time, sizes in and out, where it ran. */
function ProfileFacts({ profile }: { profile: Record<string, unknown> | undefined }) {
  const p = profile ?? {};
  const executor = (p.executor ?? {}) as Record<string, unknown>;
  const facts: [string, string][] = [];
  if (typeof p.elapsed_time_ms === 'number') facts.push(['Run time', formatDuration(p.elapsed_time_ms)]);
  if (typeof p.total_input_files === 'number')
    facts.push(['Inputs', `${p.total_input_files} files, ${formatBytes(p.total_input_size_bytes as number | undefined)}`]);
  if (typeof p.total_output_files === 'number')
    facts.push(['Outputs', `${p.total_output_files} files, ${formatBytes(p.total_output_size_bytes as number | undefined)}`]);
  if (executor.name) facts.push(['Executor', [executor.name, executor.host].filter(Boolean).join(' on ')]);
  if (!facts.length) return <p className="muted">The engine reports its measurements when the job ends.</p>;
  return (
    <dl className="facts">
      {facts.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
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
        {j.cluster && (
          <div>
            <dt>Cluster</dt>
            <dd>
              {j.cluster.summary}{' '}
              <span className="muted mono">
                ({j.cluster.scheduler} job {j.cluster.job_id})
              </span>
            </dd>
          </div>
        )}
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
              .map(([k, f]) => ({
                ...f!,
                label: `${k}: ${f!.name}`,
                at: f!.parent_ref,
              }))}
            empty="No file inputs."
          />
        </section>
        <section className="card" aria-labelledby="out-h">
          <h2 id="out-h">Outputs</h2>
          <FileList
            files={j.outputs.map((f) => ({ ...f, at: j.destination }))}
            empty={ACTIVE.has(j.state) ? 'Outputs appear when the job completes.' : 'No outputs.'}
          />
        </section>
      </div>
      <div className="two-col">
        <section className="card" aria-labelledby="config-h">
          <h2 id="config-h">Configuration</h2>
          <ConfigTable job={j} />
        </section>
        <section className="card" aria-labelledby="profile-h">
          <h2 id="profile-h">Profile</h2>
          <ProfileFacts profile={j.profile} />
        </section>
      </div>
      <LogTail job={j} />
    </div>
  );
}
