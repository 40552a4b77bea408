import { createHash, randomBytes } from 'node:crypto';

/**
 * API keys. A client only ever holds the whole key (`<host>:<port>[:__force_insecure]:<secret>`, the
 * form Flywheel's SDK parses); the server stores the sha-256 of the secret, never the secret itself.
 */
export function newSecret(): string {
  // base64url without '-' or '_' at the edges would still be fine, but ':' must never appear: it separates fields.
  return randomBytes(24).toString('base64url');
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Formats a secret as a key that tells a client where the API is. */
export function formatKey(apiUrl: string, secret: string): string {
  const url = new URL(apiUrl);
  const insecure = url.protocol === 'http:';
  const port = url.port || (insecure ? '80' : '443');
  return `${url.hostname}:${port}:${insecure ? '__force_insecure:' : ''}${secret}`;
}

/** The secret part of whatever a client sent: a bare secret or a whole key. */
export function secretOf(presented: string): string {
  const trimmed = presented.trim();
  const i = trimmed.lastIndexOf(':');
  return i < 0 ? trimmed : trimmed.slice(i + 1);
}
