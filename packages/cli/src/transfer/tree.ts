import type { Acquisition, Client, Container, FileEntry, Project, Session, Subject } from '@sprocket/sdk';
import { type AnyContainerType, PLURAL, safePathSegment } from '@sprocket/types';
import { CliError } from '../errors.js';
import type { HierarchyObject } from '../paths.js';

/** One file of a subtree and where it goes, relative to the download folder. */
export interface TreeFile {
  /** `group/project/subject/session/acquisition/files/name`, the server's archive layout. */
  rel: string;
  entry: FileEntry;
  /** The plural route segment and id of the container holding it. */
  cont: string;
  id: string;
}

interface Node {
  id: string;
  label: string;
  parent?: string;
  type: string;
  files: FileEntry[];
}

/**
 * Every current file under a container, laid out as the server's tar download lays it out
 * (siblings sharing a label get `_<id>` appended), found with one paged listing per level.
 */
export async function listTree(client: Client, root: HierarchyObject): Promise<TreeFile[]> {
  if (root.containerType === 'group') throw new CliError('download a project or something below it, not a whole group');
  if (root.containerType === 'analysis')
    throw new CliError('downloading analyses is not supported yet; download their files by path (…/analyses/<label>/files/<name>)');
  const start = root as Container;
  await start.reload();
  const parents = start.parents as Record<string, string | undefined>;
  const group = String(parents.group ?? (start as Project).group);
  const nodes = new Map<string, Node>();
  const add = (c: Container, parent: string | undefined) =>
    nodes.set(c.id, { id: c.id, label: c.label, parent, type: c.containerType, files: c.files ?? [] });

  // The containers above the root give the path its leading folders (their files are not included).
  const chain: Container[] = [];
  for (const level of ['project', 'subject', 'session'] as const) {
    const id = parents[level];
    if (id && id !== start.id) chain.push(await client.getContainer<Container>(level, id));
  }
  let above: string | undefined;
  for (const c of chain) {
    nodes.set(c.id, { id: c.id, label: c.label, parent: above, type: c.containerType, files: [] });
    above = c.id;
  }
  add(start, above);

  const type = start.containerType;
  if (type === 'project') {
    const p = start as Project;
    for (const s of await p.subjects.find()) add(s, p.id);
    for (const s of await p.sessions.find()) add(s, (s as Session).parents.subject ?? undefined);
    for (const a of await p.acquisitions.find()) add(a, (a as Acquisition).parents.session ?? undefined);
  } else if (type === 'subject') {
    const s = start as Subject;
    for (const x of await s.sessions.find()) add(x, s.id);
    for (const a of await s.acquisitions.find()) add(a, (a as Acquisition).parents.session ?? undefined);
  } else if (type === 'session') {
    for (const a of await (start as Session).acquisitions.find()) add(a, start.id);
  }

  const labelCount = new Map<string, number>();
  for (const n of nodes.values()) labelCount.set(`${n.parent}/${n.label}`, (labelCount.get(`${n.parent}/${n.label}`) ?? 0) + 1);
  const folder = (n: Node) =>
    (labelCount.get(`${n.parent}/${n.label}`) ?? 0) > 1 ? `${safePathSegment(n.label)}_${n.id}` : safePathSegment(n.label);
  const pathOf = (n: Node): string => {
    const parts: string[] = [];
    for (let cur: Node | undefined = n; cur; cur = cur.parent ? nodes.get(cur.parent) : undefined) parts.unshift(folder(cur));
    return [safePathSegment(group), ...parts].join('/');
  };
  const out: TreeFile[] = [];
  const chainIds = new Set(chain.map((c) => c.id));
  for (const n of nodes.values()) {
    if (chainIds.has(n.id)) continue;
    for (const f of n.files)
      out.push({ rel: `${pathOf(n)}/files/${safePathSegment(f.name)}`, entry: f, cont: PLURAL[n.type as AnyContainerType], id: n.id });
  }
  return out.sort((a, b) => a.rel.localeCompare(b.rel));
}
