import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

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

/** `$XDG_CONFIG_HOME/sprocket`, else `$HOME/.config/sprocket`. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'sprocket');
}

/** The file `sprocket login` writes: `{"key": "<compound key>"}`. */
export function userConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(configDir(env), 'user.json');
}

/** The key stored by `sprocket login`, or undefined when nobody is logged in. */
export function readStoredKey(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = userConfigPath(env);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON; run 'sprocket login <key>' again`);
  }
  const key = (parsed as { key?: unknown } | null)?.key;
  if (typeof key !== 'string' || !key) throw new Error(`${file} has no 'key'; run 'sprocket login <key>' again`);
  return key;
}

/** Stores a key for later clients (mode 0600: the file holds a secret). */
export function storeKey(key: string, env: NodeJS.ProcessEnv = process.env): string {
  const file = userConfigPath(env);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify({ key })}\n`, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  return file;
}

/** Forgets the stored key; true if there was one. */
export function removeStoredKey(env: NodeJS.ProcessEnv = process.env): boolean {
  try {
    fs.unlinkSync(userConfigPath(env));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}
