import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import type { FilesEventData, Job, JobEventData } from './types.js';

export type LiveStatus = 'connecting' | 'live' | 'offline';

/**
 * One EventSource on /api/events for the signed-in page. Job events patch the cached job rows in
 * place (so a row turns "complete" with no refetch) and mark job listings stale; file events mark
 * the container listings of their project stale. EventSource reconnects on its own, sending the
 * last event id, and the server replays what was missed (or says `reset`, and all is refetched).
 */
export function useLiveEvents(enabled: boolean): LiveStatus {
  const qc = useQueryClient();
  const [status, setStatus] = useState<LiveStatus>('connecting');
  useEffect(() => {
    if (!enabled) return;
    const es = new EventSource('/api/events', { withCredentials: true });
    es.onopen = () => setStatus('live');
    es.onerror = () => setStatus(es.readyState === EventSource.CLOSED ? 'offline' : 'connecting');
    es.addEventListener('job', (msg) => {
      const e = JSON.parse((msg as MessageEvent<string>).data) as JobEventData;
      qc.setQueryData<Job>(['job', e._id], (old) => (old ? { ...old, state: e.state, modified: e.modified } : old));
      // Every ['jobs', …] query holds a listing with containers ({jobs, containers}); anything else is left to the refetch.
      qc.setQueriesData<{ jobs: Job[] }>({ queryKey: ['jobs'] }, (old) =>
        Array.isArray(old?.jobs)
          ? { ...old, jobs: old.jobs.map((j) => (j.id === e._id ? { ...j, state: e.state, modified: e.modified } : j)) }
          : old,
      );
      void qc.invalidateQueries({ queryKey: ['jobs'] });
      void qc.invalidateQueries({ queryKey: ['job', e._id] });
    });
    // The server could not replay what this page missed while reconnecting: everything shown is refetched.
    es.addEventListener('reset', () => void qc.invalidateQueries());
    es.addEventListener('files', (msg) => {
      const e = JSON.parse((msg as MessageEvent<string>).data) as FilesEventData;
      void qc.invalidateQueries({ queryKey: ['project', e.project_id] });
      void qc.invalidateQueries({ queryKey: ['container', e.container.type, e.container.id] });
    });
    return () => {
      es.close();
      setStatus('connecting');
    };
  }, [enabled, qc]);
  return status;
}
