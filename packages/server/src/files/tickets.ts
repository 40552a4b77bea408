import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Download tickets: short-lived signed tokens that let a URL be fetched without an API key (what
 * the SDK's `get_*_download_url` and browsers need). Signed with a site secret, so any server
 * process can check them and nothing is stored.
 */
export interface TicketPayload {
  /** What the ticket opens: a file (`f:<fileRowId>`) or a bulk download (`d:<json>`). */
  target: string;
  exp: number;
}

export function signTicket(secret: string, target: string, ttlSeconds = 60): string {
  const payload = Buffer.from(JSON.stringify({ target, exp: Math.floor(Date.now() / 1000) + ttlSeconds })).toString('base64url');
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
