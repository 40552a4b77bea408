import type { FileInputSpec, GearManifest, InputSpec } from '@sprocket/types';
import { useQuery } from '@tanstack/react-query';
import { api } from './client.js';
import type { FileDoc } from './types.js';

/** A gear as GET /gears answers it. */
export interface GearDoc {
  _id: string;
  category: string;
  gear: GearManifest;
  created: string;
  modified: string;
}

/** GET /gears/{id}/suggest/{cont}/{cid}: the container's files, each with its verdict per file input. */
export interface SuggestFile extends FileDoc {
  suggested: Record<string, boolean>;
  parent_ref: { type: string; id: string };
}
export interface Suggestion {
  _id: string;
  container_type: string;
  label: string;
  files: SuggestFile[];
  children: { _id: string; container_type: string; label: string }[];
  analyses: { _id: string; label: string; files: SuggestFile[] }[];
}

/** Every installed version of every gear, newest first within a name. */
export function useAllGears() {
  return useQuery({
    queryKey: ['gears', 'all'],
    queryFn: ({ signal }) => api.get<GearDoc[]>('/gears', { all_versions: true }, signal),
    select: (gears) => {
      const byName = new Map<string, GearDoc[]>();
      for (const g of [...gears].sort((a, b) => b.created.localeCompare(a.created)))
        byName.set(g.gear.name, [...(byName.get(g.gear.name) ?? []), g]);
      return [...byName.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, versions]) => ({ name, versions }));
    },
  });
}

export function useGear(id: string | undefined) {
  return useQuery({
    queryKey: ['gear', id],
    queryFn: ({ signal }) => api.get<GearDoc>(`/gears/${id}`, undefined, signal),
    enabled: !!id,
  });
}

export const fileInputsOf = (m: GearManifest): [string, FileInputSpec][] =>
  Object.entries(m.inputs ?? {}).filter((e): e is [string, FileInputSpec] => (e[1] as InputSpec).base === 'file');

/** What a file input accepts, in words: its `type` enum and any other directive. */
export function acceptsText(spec: FileInputSpec): string {
  const parts: string[] = [];
  for (const [k, d] of Object.entries(spec)) {
    if (k === 'base' || k === 'description' || k === 'optional') continue;
    const e = (d as { enum?: unknown[] })?.enum;
    parts.push(e ? `${k} ${e.map(String).join(' or ')}` : `${k} ${JSON.stringify(d)}`);
  }
  return parts.join('; ') || 'any file';
}
