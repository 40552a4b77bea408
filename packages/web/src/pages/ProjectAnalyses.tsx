import { useQuery } from '@tanstack/react-query';
import { useParams } from 'react-router';
import { api } from '../api/client.js';
import type { Analysis } from '../api/types.js';
import { AnalysesTable } from '../components/AnalysesTable.js';
import { ErrorNote, Loading } from '../components/common.js';

/** Every analysis in the project, whatever it hangs on. */
export function ProjectAnalyses() {
  const { projectId = '' } = useParams();
  const analyses = useQuery({
    queryKey: ['project', projectId, 'analyses'],
    queryFn: ({ signal }) => api.get<Analysis[]>(`/projects/${projectId}/all/analyses`, undefined, signal),
  });
  return (
    <section aria-label="Analyses" className="tab-body">
      {analyses.isPending && <Loading label="Loading analyses…" />}
      {analyses.error && <ErrorNote error={analyses.error} retry={() => void analyses.refetch()} />}
      {analyses.data && <AnalysesTable analyses={analyses.data} showParent />}
    </section>
  );
}
