import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// The key format is shared with the engine, so its parser lives in @sprocket/types.
export { type ParsedKey, parseApiKey } from '@sprocket/types';

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
