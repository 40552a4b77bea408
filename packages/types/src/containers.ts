/** The data hierarchy: group → project → subject → session → acquisition, analyses on any level. */
export const CONTAINER_TYPES = ['project', 'subject', 'session', 'acquisition', 'analysis'] as const;
export type ContainerType = (typeof CONTAINER_TYPES)[number];
export type AnyContainerType = ContainerType | 'group';

export const PLURAL: Record<AnyContainerType, string> = {
  group: 'groups',
  project: 'projects',
  subject: 'subjects',
  session: 'sessions',
  acquisition: 'acquisitions',
  analysis: 'analyses',
};

export const SINGULAR: Record<string, AnyContainerType> = Object.fromEntries(
  Object.entries(PLURAL).map(([s, p]) => [p, s as AnyContainerType]),
);

export interface Parents {
  group?: string;
  project?: string;
  subject?: string;
  session?: string;
  acquisition?: string;
}

export interface ContainerRef {
  type: AnyContainerType;
  id: string;
}

/** Flywheel-style 24-hex object ids. */
export const OBJECT_ID = /^[0-9a-f]{24}$/;
/** Group ids as Flywheel defines them. */
export const GROUP_ID = /^[0-9a-z][0-9a-z.@_-]{0,62}[0-9a-z]$/;

/**
 * A label or file name as one folder or file name of a download: no slashes or control characters,
 * never empty or a dot path. The server's archives and the CLI's folder downloads both name paths
 * with it, so a download resumed one way matches what the other wrote.
 */
export function safePathSegment(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: labels may hold anything; paths may not
  const cleaned = s.replace(/[/\\\u0000-\u001f]/g, '_').trim();
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? '_' : cleaned;
}
