import { type JobLogLine, LOG_FD } from '@sprocket/types';
import type { Kysely } from 'kysely';
import { parseJson } from '../dao/json.js';
import type { Database } from '../db/schema.js';
import { newId, now } from '../ids.js';

/** Appends lines to a job's log in one row: the engine sends batches, the server adds system lines. */
export async function appendLog(db: Kysely<Database>, jobId: string, lines: JobLogLine[]): Promise<void> {
  if (!lines.length) return;
  await db
    .insertInto('job_logs')
    .values({ id: newId(), job_id: jobId, lines: JSON.stringify(lines.map((l) => ({ fd: l.fd, msg: l.msg }))), created: now() })
    .execute();
}

/** A line from the platform itself (fd -1), ending in a newline like the gear's own output. */
export function systemLine(msg: string): JobLogLine {
  return { fd: LOG_FD.system, msg: msg.endsWith('\n') ? msg : `${msg}\n` };
}

export async function appendSystemLog(db: Kysely<Database>, jobId: string, msg: string): Promise<void> {
  await appendLog(db, jobId, [systemLine(msg)]);
}

export async function readLog(db: Kysely<Database>, jobId: string): Promise<JobLogLine[]> {
  const rows = await db.selectFrom('job_logs').select('lines').where('job_id', '=', jobId).orderBy('created').orderBy('id').execute();
  return rows.flatMap((r) => parseJson<JobLogLine[]>(r.lines, []));
}

/**
 * The log as plain text; system lines are marked so a reader can tell them from the gear's output.
 * The engine sends the gear's output one line per entry without its newline (the platform's own
 * lines carry one): each entry ends in exactly one newline, so the text reads as the gear wrote it.
 */
export function logText(lines: JobLogLine[]): string {
  return lines
    .map((l) => {
      const msg = l.msg.endsWith('\n') ? l.msg : `${l.msg}\n`;
      return l.fd === LOG_FD.system ? `[sprocket] ${msg}` : msg;
    })
    .join('');
}
