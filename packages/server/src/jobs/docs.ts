import { type JobRequest, PLURAL, type ResourceRequest, runEnvironment } from '@sprocket/types';
import type { AccessContext } from '../auth/access.js';
import { visibleContainers } from '../auth/visibility.js';
import { fileDoc, getCurrentFile } from '../dao/files.js';
import { isPlainObject, type JsonObject, parseJson } from '../dao/json.js';
import type { DatabaseHandle } from '../db/dialect.js';
import type { JobsTable } from '../db/schema.js';
import type { LoadedGear } from './gears.js';

/** A job as the API shows it. Flywheel's Job model names the id `id`; `_id` is kept beside it. */
export function jobDoc(row: JobsTable, opts: { request?: JobRequest } = {}): JsonObject {
  const transitions: JsonObject = {};
  for (const s of ['running', 'complete', 'failed', 'cancelled'] as const) {
    const t = row[`t_${s}`];
    if (t) transitions[s] = t;
  }
  const doc: JsonObject = {
    id: row.id,
    _id: row.id,
    gear_id: row.gear_id,
    gear_info: parseJson<JsonObject>(row.gear_info, {}),
    state: row.state,
    priority: row.priority,
    attempt: row.attempt,
    previous_job_id: row.previous_job_id,
    retried: row.retried,
    origin: parseJson<JsonObject>(row.origin, {}),
    inputs: parseJson<JsonObject>(row.inputs, {}),
    destination: { type: row.destination_type, id: row.destination_id },
    config: parseJson<JsonObject>(row.config, {}),
    tags: parseJson<string[]>(row.tags, []),
    label: row.label,
    batch: row.batch,
    resources: parseJson<ResourceRequest>(row.resources, {}),
    saved_files: parseJson<string[]>(row.saved_files, []),
    produced_metadata: parseJson<JsonObject | null>(row.produced_metadata, null),
    failure_reason: row.failure_reason,
    exit_code: row.exit_code,
    failed_output_accepted: row.failed_output_accepted === 1,
    transitions,
    profile: parseJson<JsonObject>(row.profile, {}),
    parents: parseJson<JsonObject>(row.parents, {}),
    related_container_ids: parseJson<string[]>(row.related_container_ids, []),
    claimed_by: row.claimed_by,
    created: row.created,
    modified: row.modified,
  };
  // Only for jobs a batch cluster ran (Slurm): every other document keeps its shape.
  if (row.cluster) doc.cluster = parseJson<JsonObject>(row.cluster, {});
  if (opts.request) doc.request = opts.request;
  return doc;
}

function customFlywheel(gear: LoadedGear): JsonObject {
  const c = gear.manifest.custom;
  return isPlainObject(c) && isPlainObject(c.flywheel) ? c.flywheel : {};
}

export function gearImage(gear: LoadedGear): string | null {
  const c = gear.manifest.custom;
  const gb = isPlainObject(c) && isPlainObject(c['gear-builder']) ? c['gear-builder'] : undefined;
  return typeof gb?.image === 'string' && gb.image ? gb.image : null;
}

/**
 * The engine's instructions for a job (docs/engine-protocol.md): where the gear and each input are
 * fetched from and placed, the command and its environment, and where outputs go. URIs are
 * relative to `/api`, with file names URL-encoded.
 */
export function jobRequest(row: JobsTable, gear: LoadedGear): JobRequest {
  const payload = parseJson<JsonObject>(row.config, {});
  const config = isPlainObject(payload.config) ? payload.config : {};
  const inputs: JobRequest['inputs'] = [];
  const refs = parseJson<Record<string, { version?: number }>>(row.inputs, {});
  for (const [name, entry] of Object.entries(isPlainObject(payload.inputs) ? payload.inputs : {})) {
    if (!isPlainObject(entry) || entry.base !== 'file') continue;
    const version = refs[name]?.version;
    const h = entry.hierarchy as { type: string; id: string };
    const loc = entry.location as { name: string; path: string };
    const obj = entry.object as { size?: number };
    inputs.push({
      input: name,
      uri: `/${PLURAL[h.type as keyof typeof PLURAL] ?? `${h.type}s`}/${h.id}/files/${encodeURIComponent(loc.name)}${version ? `?version=${version}` : ''}`,
      location: loc.path,
      size: obj.size ?? 0,
    });
  }
  const fw = customFlywheel(gear);
  const target: JobRequest['target'] = {
    command: ['bash', '-c', gear.manifest.command || './run'],
    env: runEnvironment(gear.manifest, config),
    dir: '/flywheel/v0',
    networking: (gear.manifest.capabilities ?? []).includes('networking'),
    image: gearImage(gear),
    resources: parseJson<ResourceRequest>(row.resources, {}),
  };
  if (typeof fw.uid === 'number') target.uid = fw.uid;
  if (typeof fw.gid === 'number') target.gid = fw.gid;
  return {
    gear: { id: gear.row.id, archive: `/gears/${gear.row.id}/archive` },
    inputs,
    target,
    outputs: [{ uri: `/engine?level=${row.destination_type}&id=${row.destination_id}&job=${row.id}` }],
  };
}

/**
 * What of a job one reader may not see. A job can read files from projects that the readers of
 * its destination cannot see (and, listed under an input's container, write to a destination the
 * reader cannot see). Those parts are redacted for that reader: an input keeps its name (the key
 * the gear declares) and its container type; its container id, file name, info, hash and the uri
 * and location the engine uses are dropped, and `redacted: true` says so. A hidden destination
 * keeps only its type, and the job's outputs (saved files, produced metadata, parents) go with it.
 */
export interface JobRedaction {
  inputs: Set<string>;
  destination: boolean;
  /** Container ids of related_container_ids the reader may not see. */
  containers: Set<string>;
}

/** The redactions for each job (by id); undefined where the reader sees everything. */
export async function jobRedactions(
  handle: DatabaseHandle,
  access: AccessContext,
  rows: JobsTable[],
): Promise<Map<string, JobRedaction | undefined>> {
  const out = new Map<string, JobRedaction | undefined>();
  const p = access.principal;
  // Site admins see every job whole; an engine sees only jobs it runs, and needs them whole.
  if (access.isAdmin || p.kind === 'engine' || !rows.length) {
    for (const r of rows) out.set(r.id, undefined);
    return out;
  }
  const refsOf = (r: JobsTable) => parseJson<Record<string, { id?: string }>>(r.inputs, {});
  const ids = rows.flatMap((r) => [
    r.destination_id,
    ...parseJson<string[]>(r.related_container_ids, []),
    ...Object.values(refsOf(r)).flatMap((x) => (x.id ? [x.id] : [])),
  ]);
  const seen = await visibleContainers(handle, access, ids);
  const sees = (id: string | undefined) => (id ? seen.get(id) === true : false);
  for (const r of rows) {
    const inputs = new Set(
      Object.entries(refsOf(r))
        .filter(([, ref]) => !sees(ref.id))
        .map(([name]) => name),
    );
    const containers = new Set(parseJson<string[]>(r.related_container_ids, []).filter((id) => !sees(id)));
    const destination = !sees(r.destination_id);
    out.set(r.id, inputs.size || containers.size || destination ? { inputs, destination, containers } : undefined);
  }
  return out;
}

/** config.json's payload with hidden inputs (and a hidden destination) reduced to what may be shown. */
export function redactPayload(payload: JsonObject, r: JobRedaction | undefined): JsonObject {
  if (!r) return payload;
  const out: JsonObject = { ...payload };
  if (isPlainObject(payload.inputs)) {
    const inputs: JsonObject = {};
    for (const [name, entry] of Object.entries(payload.inputs)) {
      inputs[name] = r.inputs.has(name) && isPlainObject(entry) ? { base: entry.base, redacted: true } : entry;
    }
    out.inputs = inputs;
  }
  if (r.destination && isPlainObject(payload.destination)) out.destination = { type: payload.destination.type, redacted: true };
  return out;
}

/** A job document (from jobDoc) as one reader may see it. */
export function redactJobDoc(doc: JsonObject, r: JobRedaction | undefined): JsonObject {
  if (!r) return doc;
  const out: JsonObject = { ...doc };
  const inputs: JsonObject = {};
  for (const [name, ref] of Object.entries(isPlainObject(doc.inputs) ? doc.inputs : {})) {
    inputs[name] = r.inputs.has(name) && isPlainObject(ref) ? { type: ref.type, redacted: true } : ref;
  }
  out.inputs = inputs;
  if (isPlainObject(doc.config)) out.config = redactPayload(doc.config, r);
  out.related_container_ids = (doc.related_container_ids as string[]).filter((id) => !r.containers.has(id));
  if (r.destination && isPlainObject(doc.destination)) {
    out.destination = { type: doc.destination.type, redacted: true };
    out.parents = {};
    out.saved_files = [];
    out.produced_metadata = null;
  }
  const request = doc.request as JobRequest | undefined;
  if (request) {
    out.request = {
      ...request,
      inputs: request.inputs.filter((i) => !r.inputs.has(i.input)),
      outputs: r.destination ? [] : request.outputs,
    };
  }
  return out;
}

/** Job documents for a reader: jobDoc, then redacted to what the reader may see. */
export async function jobDocsFor(handle: DatabaseHandle, access: AccessContext, rows: JobsTable[]): Promise<JsonObject[]> {
  const redactions = await jobRedactions(handle, access, rows);
  return rows.map((r) => redactJobDoc(jobDoc(r), redactions.get(r.id)));
}

/**
 * `GET /jobs/{id}/detail`: the job with its input and output file entries and its destination,
 * as much of it as this reader may see (redacted parts keep their references only).
 */
export async function jobDetail(handle: DatabaseHandle, access: AccessContext, job: JobsTable): Promise<JsonObject> {
  const redaction = (await jobRedactions(handle, access, [job])).get(job.id);
  const doc = redactJobDoc(jobDoc(job), redaction);
  const inputs: JsonObject = {};
  for (const [name, ref] of Object.entries(parseJson<Record<string, { type: string; id: string; name: string }>>(job.inputs, {}))) {
    if (redaction?.inputs.has(name)) {
      inputs[name] = (doc.inputs as JsonObject)[name]!;
      continue;
    }
    const f = await getCurrentFile(handle.db, ref.id, ref.name);
    inputs[name] = f ? { ...ref, ...fileDoc(f, undefined, false) } : ref;
  }
  if (redaction?.destination) return { ...doc, inputs, outputs: [], parent_info: null };
  const outputs = [];
  for (const name of parseJson<string[]>(job.saved_files, [])) {
    const f = await getCurrentFile(handle.db, job.destination_id, name);
    if (f) outputs.push(fileDoc(f, undefined, false));
  }
  const dest = await handle.db
    .selectFrom('containers')
    .select(['id', 'label', 'type'])
    .where('id', '=', job.destination_id)
    .executeTakeFirst();
  return { ...doc, inputs, outputs, parent_info: dest ? { _id: dest.id, label: dest.label, type: dest.type } : null };
}
