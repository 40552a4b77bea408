import { PLURAL } from '@sprocket/types';
import type { DatabaseHandle } from '../db/dialect.js';
import { apiError, forbidden } from '../errors.js';
import type { RouteCall } from './principal.js';

/**
 * What an engine key may call: the engine routes (marked `config: {engine: true}`, which check
 * themselves that the job is this engine's and still running) and the reads a job needs, only for
 * the jobs this engine has claimed and that still run: their gear's archive, image archive and document, their
 * document and config.json, and their input files at the pinned version. Anything else on the
 * site is closed to it, so a stolen engine key reads no more than the jobs in flight on that engine.
 */
const FILE_ROUTE = /^\/api\/([a-z]+)\/:id\/files\/:name$/;

type Reads = 'gear' | 'job' | 'file' | 'free';
const READABLE = new Map<string, Reads>([
  ['GET /api/version', 'free'],
  ['GET /api/gears/:id', 'gear'],
  ['GET /api/gears/:id/archive', 'gear'],
  ['GET /api/gears/:id/image', 'gear'],
  ['GET /api/jobs/:id', 'job'],
  ['GET /api/jobs/:id/config.json', 'job'],
]);

interface RunningJob {
  id: string;
  gear_id: string;
  inputs: string;
}

function runningJobs(handle: DatabaseHandle, deviceId: string): Promise<RunningJob[]> {
  return handle.db
    .selectFrom('jobs')
    .select(['id', 'gear_id', 'inputs'])
    .where('state', '=', 'running')
    .where('device_id', '=', deviceId)
    .execute();
}

const DENIED = 'engine keys may only call the engine routes and read what their running jobs need';

export async function assertEngineMayCall(handle: DatabaseHandle, call: RouteCall): Promise<void> {
  if (call.engineRoute) return;
  const url = call.url ?? '';
  const method = call.method === 'HEAD' ? 'GET' : call.method;
  const fileType = method === 'GET' ? FILE_ROUTE.exec(url)?.[1] : undefined;
  const reads = fileType ? 'file' : READABLE.get(`${method} ${url}`);
  if (!reads) throw forbidden(DENIED);
  if (reads === 'free') return;
  const params = call.params as { id?: string; name?: string };
  const query = call.query as { version?: string; ticket?: string };
  const deviceId = call.principal.userId;
  const jobs = await runningJobs(handle, deviceId);
  if (reads === 'gear') {
    if (jobs.some((j) => j.gear_id === params.id)) return;
    throw forbidden(`${DENIED}: gear ${params.id} is not the gear of a job running on this engine`);
  }
  if (reads === 'job') {
    if (jobs.some((j) => j.id === params.id)) return;
    // As GET /jobs/{id} answers anyone who may not see a job.
    throw apiError('JOB_NOT_FOUND', { id: String(params.id) });
  }
  // Tickets are for browsers and scripts; an engine fetches with its key, so its reads stay checked here.
  if (query.ticket !== undefined) throw forbidden('engine keys cannot issue or use download tickets');
  const version = query.version === undefined ? undefined : Number(query.version);
  for (const j of jobs) {
    const refs = JSON.parse(j.inputs) as Record<string, { type: string; id: string; name: string; version?: number }>;
    for (const ref of Object.values(refs)) {
      if (ref.id !== params.id || ref.name !== params.name || PLURAL[ref.type as keyof typeof PLURAL] !== fileType) continue;
      // Inputs are pinned to a version; another version of the same name is not what the job needs.
      if (ref.version === undefined || version === ref.version) return;
    }
  }
  throw forbidden(`${DENIED}: file '${params.name}' on ${fileType} ${params.id} is not an input of a job running on this engine`);
}
