import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client.js';
import type { Acquisition, Analysis, Project, Session } from '../api/types.js';

/** The container pages the UI has, and the API path segment of each. */
export type PageType = 'project' | 'subject' | 'session' | 'acquisition' | 'analysis';
export const PLURAL: Record<PageType, string> = {
  project: 'projects',
  subject: 'subjects',
  session: 'sessions',
  acquisition: 'acquisitions',
  analysis: 'analyses',
};

export type AnyContainer = (Project | Session | Acquisition | Analysis) & { label: string };

export function useContainer<T = AnyContainer>(type: PageType, id: string | undefined) {
  return useQuery({
    queryKey: ['container', type, id],
    queryFn: ({ signal }) => api.get<T>(`/${PLURAL[type]}/${id}`, undefined, signal),
    enabled: !!id,
  });
}

/** `/api/<plural>/<id>/files/<name>`, the file route every download, viewer and version link uses. */
export function fileUrl(type: PageType, id: string, name: string, opts: { view?: boolean; version?: number } = {}): string {
  const q = new URLSearchParams();
  if (opts.version) q.set('version', String(opts.version));
  if (opts.view) q.set('view', 'true');
  const qs = q.toString();
  return `/api/${PLURAL[type]}/${id}/files/${encodeURIComponent(name)}${qs ? `?${qs}` : ''}`;
}
