import { api, request } from './client.js';
import type { AcquisitionRowDoc, SessionRowDoc } from './types.js';

// Only what the Sessions table shows: a fraction of the full documents' bytes for 5,000 sessions,
// and the server reads no more than that (the tab's first screen waits for this listing).
const FILE_FIELDS = 'files.modality,files.classification';
const SESSION_FIELDS = `label,subject,timestamp,${FILE_FIELDS}`;
const ACQUISITION_FIELDS = `label,session,timestamp,${FILE_FIELDS}`;

/**
 * A project's sessions as the Sessions tab lists them (main.tsx asks for them early on a cold load;
 * the Run dialog's session picker shares the cache).
 */
export const sessionsQuery = (projectId: string) => ({
  queryKey: ['project', projectId, 'sessions'],
  queryFn: ({ signal }: { signal?: AbortSignal }) =>
    api.get<SessionRowDoc[]>(`/projects/${projectId}/sessions`, { fields: SESSION_FIELDS }, signal),
});

/** Every acquisition of a project, as the Sessions tab unfolds them below their sessions. */
export const projectAcquisitionsQuery = (projectId: string) => ({
  queryKey: ['project', projectId, 'acquisitions'],
  queryFn: ({ signal }: { signal?: AbortSignal }) =>
    api.get<AcquisitionRowDoc[]>('/acquisitions', { filter: `parents.project=${projectId}`, fields: ACQUISITION_FIELDS }, signal),
});

/** How many sessions the first screen asks for before the whole listing. */
export const FIRST_PAGE = 100;

/** The table's sorts the server orders the same way (subject then session label; session label). */
const SERVER_SORT: Record<string, (dir: string) => string> = {
  subject: (dir) => `subject.label:${dir},label:${dir}`,
  session: (dir) => `label:${dir}`,
};

export interface SessionsPage {
  results: SessionRowDoc[];
  total: number;
}

/**
 * The first FIRST_PAGE sessions in the table's order, with the project's total: what the first
 * screen shows while the whole listing (which sorting and filtering work over) loads behind it.
 * Undefined when the table's view is one the server cannot order or a filter is typed: that view
 * waits for the whole listing. The server compares labels as text where the table compares them
 * as people read them (sub-2 before sub-10): where the two differ, rows move once when the rest
 * arrives.
 */
export function firstPageQuery(projectId: string, sort: string, desc: boolean, q: string) {
  const order = SERVER_SORT[sort];
  if (!order || q.trim()) return undefined;
  return {
    queryKey: ['project', projectId, 'sessions', 'first', sort, desc],
    queryFn: ({ signal }: { signal?: AbortSignal }) =>
      request<SessionsPage>('GET', `/projects/${projectId}/sessions`, {
        query: { fields: SESSION_FIELDS, sort: order(desc ? 'desc' : 'asc'), limit: FIRST_PAGE },
        features: ['pagination'],
        signal,
      }),
  };
}
