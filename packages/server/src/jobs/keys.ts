import fs from 'node:fs';
import path from 'node:path';
import type { GearManifest } from '@sprocket/types';
import type { Kysely } from 'kysely';
import type { ServerContext } from '../context.js';
import { type JsonObject, parseJson } from '../dao/json.js';
import { issueKey } from '../dao/users.js';
import type { Database, JobsTable } from '../db/schema.js';
import { ApiError } from '../errors.js';
import { newId, now } from '../ids.js';

/** Keys of the jobs and engines: api-key inputs minted per job, and device keys for engines. */

export async function createDevice(db: Kysely<Database>, label: string, type = 'engine'): Promise<string> {
  const id = newId();
  const stamp = now();
  await db.insertInto('devices').values({ id, label, type, disabled: 0, last_seen: null, created: stamp, modified: stamp }).execute();
  return id;
}

/** A new engine key for a device; the secret is shown only in the return value. */
export async function issueEngineKey(db: Kysely<Database>, apiUrl: string, deviceId: string): Promise<string> {
  return (await issueKey(db, apiUrl, deviceId, { label: 'engine', type: 'engine' })).key;
}

export const LOCAL_ENGINE_LABEL = 'local engine';

/**
 * The key of the engine `npm start` runs beside the server: written to `<data dir>/engine-api-key`
 * (mode 0600) when that file does not exist yet, like the bootstrap admin key.
 */
export async function ensureLocalEngineKey(ctx: ServerContext): Promise<string | undefined> {
  const file = path.join(ctx.config.dataDir, 'engine-api-key');
  if (fs.existsSync(file)) return undefined;
  const { db } = ctx.handle;
  const existing = await db
    .selectFrom('devices')
    .select('id')
    .where('label', '=', LOCAL_ENGINE_LABEL)
    .where('type', '=', 'engine')
    .executeTakeFirst();
  const deviceId = existing?.id ?? (await createDevice(db, LOCAL_ENGINE_LABEL));
  const key = await issueEngineKey(db, ctx.config.publicUrl, deviceId);
  fs.writeFileSync(file, `${key}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return key;
}

/**
 * Mints the keys of a running job's api-key inputs (gear spec §1.12): each acts as the user who
 * launched the job, read-only where the manifest says `read-only: true`, and lives until the job ends.
 */
export async function mintJobKeys(ctx: ServerContext, job: JobsTable, manifest: GearManifest): Promise<Record<string, string>> {
  const wanted = Object.entries(manifest.inputs ?? {}).filter(([, s]) => s.base === 'api-key');
  if (!wanted.length) return {};
  const origin = parseJson<JsonObject>(job.origin, {});
  // Rule jobs act as the rule's author, read-only whatever the manifest says (reference §1.12).
  const via = origin.type === 'system' && origin.via && typeof origin.via === 'object' ? (origin.via as JsonObject) : undefined;
  const ruleUser = via?.type === 'rule' && typeof via.user === 'string' ? via.user : undefined;
  const userId = ruleUser ?? (origin.type === 'user' && typeof origin.id === 'string' ? origin.id : undefined);
  if (!userId) {
    throw new ApiError('CONFLICT', `job ${job.id} needs an API key but was not launched by a user (origin ${String(origin.type)})`);
  }
  const keys: Record<string, string> = {};
  for (const [name, spec] of wanted) {
    const readOnly = (spec.base === 'api-key' && spec['read-only'] === true) || ruleUser !== undefined;
    keys[name] = (
      await issueKey(ctx.handle.db, ctx.config.publicUrl, userId, {
        label: `job ${job.id} input ${name}`,
        type: 'job',
        jobId: job.id,
        readOnly,
      })
    ).key;
  }
  return keys;
}

/** Ends every key handed to a job; called on each terminal transition. */
export async function revokeJobKeys(db: Kysely<Database>, jobId: string): Promise<void> {
  await db.updateTable('api_keys').set({ revoked: 1 }).where('job_id', '=', jobId).where('revoked', '=', 0).execute();
}
