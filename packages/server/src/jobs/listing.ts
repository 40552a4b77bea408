import { isPlainObject, type JsonObject } from '../dao/json.js';
import type { DatabaseHandle } from '../db/dialect.js';
import type { ContainersTable } from '../db/schema.js';

/**
 * What job and batch listings carry beside the documents so a reader sees where each job ran and
 * who launched it without one request per row: container labels with their paths, and rule names.
 */

/** One entry of a listing's `containers` map (Flywheel's SessionJobsOutput keeps `{id: object}`). */
export interface ContainerLabel {
  _id: string;
  label: string;
  container_type: string;
  /** group/project/subject/session/acquisition (analyses: the parent's path, then analyses/<label>). */
  path: string;
}

const CHUNK = 500;

async function loadContainers(handle: DatabaseHandle, ids: string[]): Promise<ContainersTable[]> {
  const out: ContainersTable[] = [];
  for (let i = 0; i < ids.length; i += CHUNK)
    out.push(
      ...(await handle.db
        .selectFrom('containers')
        .selectAll()
        .where('id', 'in', ids.slice(i, i + CHUNK))
        .execute()),
    );
  return out;
}

/**
 * Labels and paths of these containers, in two queries (the containers, then their ancestors).
 * Callers pass only ids the reader may see; a container's ancestors are in the same project, so
 * they are visible to whoever sees it.
 */
export async function containerLabels(handle: DatabaseHandle, ids: string[]): Promise<Map<string, ContainerLabel>> {
  const wanted = [...new Set(ids)];
  const rows = new Map((await loadContainers(handle, wanted)).map((r) => [r.id, r]));
  const ancestors = new Set<string>();
  for (const r of rows.values())
    for (const a of [r.project_id, r.subject_id, r.session_id, r.acquisition_id]) if (a && !rows.has(a)) ancestors.add(a);
  for (const r of await loadContainers(handle, [...ancestors])) rows.set(r.id, r);
  const out = new Map<string, ContainerLabel>();
  for (const id of wanted) {
    const r = rows.get(id);
    if (!r) continue;
    const chain = [r.project_id, r.subject_id, r.session_id, r.acquisition_id]
      .filter((a): a is string => !!a && a !== r.id)
      .map((a) => rows.get(a)?.label ?? a);
    const path = r.type === 'analysis' ? [r.group_id, ...chain, 'analyses', r.label] : [r.group_id, ...chain, r.label];
    out.set(id, { _id: r.id, label: r.label, container_type: r.type, path: path.join('/') });
  }
  return out;
}

/** Container ids a (reader-redacted) job document names: its destination, its parents, its inputs' containers. */
function idsOf(doc: JsonObject): string[] {
  const ids: string[] = [];
  if (isPlainObject(doc.destination) && typeof doc.destination.id === 'string') ids.push(doc.destination.id);
  if (isPlainObject(doc.parents)) for (const [k, v] of Object.entries(doc.parents)) if (k !== 'group' && typeof v === 'string') ids.push(v);
  if (isPlainObject(doc.inputs))
    for (const ref of Object.values(doc.inputs)) if (isPlainObject(ref) && typeof ref.id === 'string') ids.push(ref.id);
  return ids;
}

/**
 * The `containers` map of a job listing (id → label, type and path) for documents already redacted
 * for the reader: what was hidden from them carries no id, so nothing hidden is named here.
 */
export async function jobListingContainers(handle: DatabaseHandle, docs: JsonObject[]): Promise<Record<string, ContainerLabel>> {
  const labels = await containerLabels(handle, docs.flatMap(idsOf));
  return Object.fromEntries(labels);
}

/**
 * Jobs a gear rule launched carry `origin: {type: system, id: rule:<id>, via: {type: rule, id}}`;
 * listings add the rule's name as `origin.via.name` (one query for all rows), so "launched by"
 * reads `rule:<name>`. Changes the documents in place.
 */
export async function nameRuleOrigins(handle: DatabaseHandle, docs: JsonObject[]): Promise<JsonObject[]> {
  const viaOf = (d: JsonObject) =>
    isPlainObject(d.origin) && isPlainObject(d.origin.via) && d.origin.via.type === 'rule' && typeof d.origin.via.id === 'string'
      ? d.origin.via
      : undefined;
  const ids = [...new Set(docs.flatMap((d) => viaOf(d)?.id ?? []))] as string[];
  if (!ids.length) return docs;
  const names = new Map<string, string>();
  for (let i = 0; i < ids.length; i += CHUNK) {
    for (const r of await handle.db
      .selectFrom('gear_rules')
      .select(['id', 'name'])
      .where('id', 'in', ids.slice(i, i + CHUNK))
      .execute())
      names.set(r.id, r.name);
  }
  for (const d of docs) {
    const via = viaOf(d);
    if (via && names.has(via.id as string)) d.origin = { ...(d.origin as JsonObject), via: { ...via, name: names.get(via.id as string)! } };
  }
  return docs;
}
