import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { type JsonObject, parseJson } from './json.js';

/**
 * Fills in what a file's `{type: 'job', id}` origin leaves a reader to look up: the gear that ran
 * (`gear_info: {name, version}`) and who launched the job (`launched_by`: the job's own origin, a
 * user, or `system` with the rule it came from). One query for all the documents; other origins,
 * and jobs that are gone, are left as stored.
 */
export async function describeJobOrigins(db: Kysely<Database>, docs: JsonObject[]): Promise<JsonObject[]> {
  const jobIds = [
    ...new Set(
      docs
        .map((d) => d.origin as JsonObject | undefined)
        .filter((o) => o?.type === 'job' && typeof o.id === 'string')
        .map((o) => o!.id as string),
    ),
  ];
  if (!jobIds.length) return docs;
  const jobs = await db.selectFrom('jobs').select(['id', 'gear_id', 'gear_info', 'origin']).where('id', 'in', jobIds).execute();
  const byId = new Map(jobs.map((j) => [j.id, j]));
  for (const d of docs) {
    const origin = d.origin as JsonObject | undefined;
    const job = origin?.type === 'job' ? byId.get(String(origin.id)) : undefined;
    if (!job) continue;
    const gear = parseJson<JsonObject>(job.gear_info, {});
    d.origin = {
      ...origin,
      gear_info: { id: job.gear_id, name: gear.name, version: gear.version },
      launched_by: parseJson<JsonObject>(job.origin, {}),
    };
  }
  return docs;
}
