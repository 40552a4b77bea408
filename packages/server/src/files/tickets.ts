import { createHmac, timingSafeEqual } from 'node:crypto';
import { AccessContext } from '../auth/access.js';
import { principalOfKey } from '../auth/authenticate.js';
import type { DatabaseHandle } from '../db/dialect.js';
import { ApiError, apiError } from '../errors.js';

/**
 * Download tickets: short-lived signed tokens that let a URL be fetched without an API key (what
 * the SDK's `get_*_download_url` and browsers need). Signed with a site secret, so any server
 * process can check them and nothing is stored. A ticket names the key that asked for it, and
 * using it checks again, as that key, that the key is still valid and may still download: a
 * ticket never outlives the permission (or the key, or the job of a job key) behind it.
 */
export interface TicketPayload {
  /** What the ticket opens: a file (`f:<fileRowId>`) or a bulk download (`d:<json>`). */
  target: string;
  exp: number;
  /** The id of the API key that asked for the ticket. */
  key?: string;
}

export function signTicket(secret: string, target: string, ttlSeconds = 60, keyId?: string): string {
  const body: TicketPayload = { target, exp: Math.floor(Date.now() / 1000) + ttlSeconds, ...(keyId ? { key: keyId } : {}) };
  const payload = Buffer.from(JSON.stringify(body)).toString('base64url');
  const mac = createHmac('sha256', secret).update(payload).digest('base64url');
  return `${payload}.${mac}`;
}

export function verifyTicket(secret: string, ticket: string): TicketPayload | undefined {
  const [payload, mac] = ticket.split('.');
  if (!payload || !mac) return undefined;
  const expected = createHmac('sha256', secret).update(payload).digest();
  const got = Buffer.from(mac, 'base64url');
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) return undefined;
  try {
    const p = JSON.parse(Buffer.from(payload, 'base64url').toString()) as TicketPayload;
    return p.exp >= Date.now() / 1000 ? p : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The permissions a ticket is used with: those of the key that asked for it, as they are now.
 * The caller checks the action on what the ticket opens with it.
 */
export async function ticketAccess(handle: DatabaseHandle, payload: TicketPayload): Promise<AccessContext> {
  const gone = apiError('AUTH_TICKET_INVALID', { reason: 'no longer valid: the key it was issued to is revoked, or its user disabled' });
  if (!payload.key) throw gone;
  let principal: Awaited<ReturnType<typeof principalOfKey>>['principal'];
  try {
    ({ principal } = await principalOfKey(handle, { keyId: payload.key }));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) throw gone;
    throw e;
  }
  // Engines fetch with their key (engine-access.ts), never through tickets.
  if (principal.kind === 'engine') throw gone;
  return new AccessContext(handle, principal);
}
