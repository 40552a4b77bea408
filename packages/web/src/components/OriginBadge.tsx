import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api } from '../api/client.js';
import type { FileOrigin, Job } from '../api/types.js';

/**
 * Where a file version came from: "uploaded by <user>", or "job <id> · <gear> v<version>" linking
 * the job page. Container documents carry only the job id; the job itself (cached under the same
 * key the job page and live events use) says which gear ran.
 */
export function OriginBadge({ origin }: { origin: FileOrigin | undefined }) {
  const jobId = origin?.type === 'job' ? origin.id : undefined;
  const job = useQuery({
    queryKey: ['job', jobId],
    queryFn: ({ signal }) => api.get<Job>(`/jobs/${jobId}`, undefined, signal),
    enabled: !!jobId && !origin?.gear_info?.name,
    staleTime: Number.POSITIVE_INFINITY,
  });
  if (!origin?.type) return <span className="muted">—</span>;
  if (jobId) {
    const gear = origin.gear_info?.name ? origin.gear_info : job.data?.gear_info;
    return (
      <Link to={`/jobs/${jobId}`} className="origin origin-job" data-origin="job" data-job={jobId}>
        job {jobId.slice(-6)}
        {gear?.name ? (
          <>
            {' '}
            · {gear.name} v{gear.version}
          </>
        ) : job.error ? (
          ' · gear unknown'
        ) : null}
      </Link>
    );
  }
  if (origin.type === 'user')
    return (
      <span className="origin origin-user" data-origin="user">
        uploaded by {origin.id}
      </span>
    );
  return (
    <span className="origin" data-origin={origin.type}>
      {origin.type} {origin.id}
    </span>
  );
}
