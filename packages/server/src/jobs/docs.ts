import { type JobRequest, PLURAL, type ResourceRequest } from '@sprocket/types';
import { isPlainObject, type JsonObject, parseJson } from '../dao/json.js';
import type { JobsTable } from '../db/schema.js';
import type { LoadedGear } from './gears.js';
import { runEnvironment } from './invocation.js';

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
