/** Where a compound API key says the server is, and the secret part that goes in the header. */
export interface ParsedKey {
  /** `<scheme>://host:port/api`, no trailing slash. */
  baseUrl: string;
  host: string;
  port: number;
  secure: boolean;
  secret: string;
}

/**
 * Parses Flywheel's compound key: `host:port:__force_insecure:secret` (http), `host:port:secret`
 * (https) or `host:secret` (https on 443). Only the last segment is secret; a `__force_insecure`
 * segment anywhere switches to http, as Flywheel's SDK does.
 */
export function parseApiKey(key: string): ParsedKey {
  const parts = key.trim().split(':');
  if (parts.length < 2 || parts.some((p) => p === '')) {
    throw new Error('invalid API key: expected host:port:secret (or host:secret, or host:port:__force_insecure:secret)');
  }
  const host = parts[0]!;
  const secret = parts[parts.length - 1]!;
  const secure = !parts.includes('__force_insecure');
  const portText = parts.length === 2 ? '443' : parts[1]!;
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`invalid API key: port '${portText}' is not a number between 1 and 65535`);
  }
  return { baseUrl: `${secure ? 'https' : 'http'}://${host}:${port}/api`, host, port, secure, secret };
}
