import { PLURAL as TYPE_PLURALS } from '@sprocket/types';
import type { Client } from './client.js';
import type { Json, Model } from './model.js';

type ModelClass = new (client: Client, doc: Json) => Model;

/**
 * Container classes by type, filled in when their module loads. Lets files and lookups build the
 * right class for a container without importing the container module (which imports them).
 */
const classes = new Map<string, ModelClass>();

export function registerClass(type: string, cls: ModelClass): void {
  classes.set(type, cls);
}

export function makeObject<T extends Model = Model>(client: Client, type: string, doc: Json): T {
  const cls = classes.get(type);
  if (!cls) throw new Error(`no SDK class for '${type}'`);
  return new cls(client, doc) as T;
}

/** Plural route segment of a container type. */
export const PLURAL: Record<string, string> = TYPE_PLURALS;
