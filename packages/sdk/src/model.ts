import type { Transport } from './transport.js';

export type Json = Record<string, unknown>;

/** A model class: built from the context that fetched the document, and the document. */
export type ModelClass = new (ctx: ModelContext, doc: Json) => Model;

/**
 * What an API object needs to act: the transport to call the API through, and the classes to
 * build related objects with (a file's container, a project's sessions), by container type. The
 * `Client` is one; passing it in explicitly is what lets the model modules not import each other
 * (or the client) in a ring.
 */
export interface ModelContext {
  readonly transport: Transport;
  readonly classes: ReadonlyMap<string, ModelClass>;
}

/** True when `key` is a method or accessor somewhere on the object's class chain. */
function isMember(obj: object, key: string): boolean {
  for (let p = Object.getPrototypeOf(obj); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    const d = Object.getOwnPropertyDescriptor(p, key);
    if (d) return d.get !== undefined || d.set !== undefined || typeof d.value === 'function';
  }
  return false;
}

/** The id of a wire document: `_id` for containers, `id` for jobs (as in Flywheel's models). */
export function wireId(doc: Json): string {
  return String(doc._id ?? doc.id ?? '');
}

/** Copies a list of `{_id, …}` wire entries with `_id` renamed to `id`. */
export function withIds<T>(list: unknown): T[] {
  if (!Array.isArray(list)) return [];
  return list.map((e) => {
    if (!e || typeof e !== 'object' || !('_id' in e)) return e as T;
    const { _id, ...rest } = e as Json;
    return { id: _id, ...rest } as T;
  });
}

/**
 * An API object: the fields of its wire document in Flywheel's names (`_id` becomes `id`, as in
 * Flywheel's SDK), plus methods that call the API through the context (the client) that fetched it.
 */
export abstract class Model {
  /** The context this object calls the API through (the `Client` that fetched it). */
  declare readonly client: ModelContext;
  declare id: string;

  constructor(client: ModelContext, doc: Json) {
    Object.defineProperty(this, 'client', { value: client, enumerable: false, writable: false });
    this.assign(doc);
  }

  /** Turns one wire field into its SDK value (nested objects such as files become objects too). */
  protected convert(_key: string, value: unknown): unknown {
    return value;
  }

  protected assign(doc: Json, fresh = false): void {
    const self = this as unknown as Json;
    if (fresh) for (const k of Object.keys(self)) delete self[k];
    for (const [k, v] of Object.entries(doc)) {
      if (k === '_id') self.id = v;
      else if (k === 'id' && '_id' in doc) continue;
      else if (!isMember(this, k)) self[k] = this.convert(k, v);
    }
  }

  /** The wire form (`id` back to `_id`), so objects print and serialise like API documents. */
  toJSON(): Json {
    const out: Json = {};
    for (const [k, v] of Object.entries(this)) out[k === 'id' ? '_id' : k] = v;
    return out;
  }
}
