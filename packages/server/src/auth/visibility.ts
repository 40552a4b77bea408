import { isPlainObject, type JsonObject } from '../dao/json.js';
import type { DatabaseHandle } from '../db/dialect.js';
import type { AccessContext } from './access.js';

/** Which of these containers the reader sees (files_view_metadata on its project); unknown ids count as hidden. */
export async function visibleContainers(handle: DatabaseHandle, access: AccessContext, ids: string[]): Promise<Map<string, boolean>> {
  const out = new Map<string, boolean>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += 500) {
    const rows = await handle.db
      .selectFrom('containers')
      .select(['id', 'type', 'project_id', 'group_id'])
      .where('id', 'in', unique.slice(i, i + 500))
      .execute();
    for (const r of rows) out.set(r.id, await access.can(r, 'files_view_metadata'));
  }
  return out;
}

/**
 * An analysis keeps a copy of each input file's document (name, info, hash) from wherever the file
 * was, possibly a project the analysis's readers cannot see. For this reader, inputs whose container
 * they may not see keep only their file type and say `redacted: true`, as job documents do.
 * Changes the documents in place and returns them.
 */
export async function redactAnalysisInputs(handle: DatabaseHandle, access: AccessContext, docs: JsonObject[]): Promise<JsonObject[]> {
  if (access.isAdmin || access.principal.kind === 'engine') return docs;
  const refOf = (input: unknown) => (isPlainObject(input) && isPlainObject(input.parent_ref) ? String(input.parent_ref.id) : undefined);
  const withInputs = docs.filter((d) => d.container_type === 'analysis' && Array.isArray(d.inputs) && d.inputs.length);
  if (!withInputs.length) return docs;
  const seen = await visibleContainers(
    handle,
    access,
    withInputs.flatMap((d) => (d.inputs as unknown[]).flatMap((i) => refOf(i) ?? [])),
  );
  for (const d of withInputs) {
    d.inputs = (d.inputs as unknown[]).map((i) => {
      const id = refOf(i);
      return id && seen.get(id) === true ? i : { type: isPlainObject(i) ? (i.type ?? null) : null, redacted: true };
    });
  }
  return docs;
}
