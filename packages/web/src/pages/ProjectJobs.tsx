import { useQuery } from '@tanstack/react-query';
import { useParams, useSearchParams } from 'react-router';
import { api } from '../api/client.js';
import type { JobListing } from '../api/types.js';
import { ErrorNote, Loading } from '../components/common.js';
import { JobsTable } from '../components/JobsTable.js';

const STATES = ['', 'pending', 'running', 'complete', 'failed', 'cancelled'] as const;

/** Every job on the project's data, whoever launched it; rows change state live (api/live.ts). */
export function ProjectJobs() {
  const { projectId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const state = params.get('state') ?? '';
  const jobs = useQuery({
    queryKey: ['jobs', 'project', projectId, state],
    queryFn: () =>
      api.get<JobListing>(`/projects/${projectId}/jobs`, { sort: 'created:desc', limit: 500, ...(state ? { states: state } : {}) }),
  });
  return (
    <section aria-label="Jobs" className="tab-body">
      <div className="toolbar">
        <label className="select">
          <span>State</span>
          <select value={state} onChange={(e) => setParams(e.target.value ? { state: e.target.value } : {}, { replace: true })}>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s || 'all'}
              </option>
            ))}
          </select>
        </label>
        {jobs.data && <span className="muted">{jobs.data.jobs.length.toLocaleString()} jobs</span>}
      </div>
      {jobs.isPending && <Loading />}
      {jobs.error && <ErrorNote error={jobs.error} retry={() => void jobs.refetch()} />}
      {jobs.data && <JobsTable jobs={jobs.data.jobs} containers={jobs.data.containers} />}
    </section>
  );
}
