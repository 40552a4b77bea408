import { Client, parseApiKey, readStoredKey } from '@sprocket/sdk';
import { SPROCKET_VERSION } from '@sprocket/types';
import { CliError } from './errors.js';

/**
 * Who the CLI talks to and as whom: `SPROCKET_API_KEY` when set (scripts, CI), else the key
 * `sprocket login` stored. The compound key names the server.
 */
export interface Session {
  client: Client;
  key: string;
  /** `http://host:port/api` */
  baseUrl: string;
}

export function currentKey(): string | undefined {
  const fromEnv = process.env.SPROCKET_API_KEY?.trim();
  if (fromEnv) return fromEnv;
  try {
    return readStoredKey();
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

/**
 * Every request of the CLI goes through the session's SDK client: its route methods, or its
 * transport's raw and streaming methods for the few routes outside the SDK's table (subtree archives).
 */
export function sessionFor(key: string): Session {
  let baseUrl: string;
  try {
    ({ baseUrl } = parseApiKey(key));
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  return { client: new Client(key, { userAgent: `Sprocket CLI/${SPROCKET_VERSION}` }), key, baseUrl };
}

export function openSession(): Session {
  const key = currentKey();
  if (!key) throw new CliError("not logged in: run 'sprocket login <key>' first (or set SPROCKET_API_KEY)");
  return sessionFor(key);
}
