import { PLURAL as TYPE_PLURALS } from '@sprocket/types';
import { SdkError } from './errors.js';
import type { Json, Model, ModelContext } from './model.js';

/** The object of the context's class for a container type (`project`, `session` …). */
export function makeObject<T extends Model = Model>(ctx: ModelContext, type: string, doc: Json): T {
  const cls = ctx.classes.get(type);
  if (!cls) throw new Error(`no SDK class for '${type}'`);
  return new cls(ctx, doc) as T;
}

/** A container of a known type by id, as its class. */
export async function fetchContainer<T = Model>(ctx: ModelContext, type: string, id: string): Promise<T> {
  const cont = PLURAL[type];
  if (!cont || type === 'group') throw new SdkError(`not a container type: ${type}`);
  return makeObject(ctx, type, await ctx.transport.json<Json>('getContainer', { params: { cont, id } })) as T;
}

/** Plural route segment of a container type. */
export const PLURAL: Record<string, string> = TYPE_PLURALS;
