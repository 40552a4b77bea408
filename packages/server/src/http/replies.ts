import { CONTAINER_TYPES, type ContainerType, MODELS, type ModelName } from '@sprocket/types';
import { TYPE_FIELDS } from '../dao/containers.js';

/**
 * Reply schemas (`schema.response`) for the main document GET routes, so fastify serialises those
 * replies with fast-json-stringify, compiled per route. They are made from the published models
 * (@sprocket/types MODELS, which /api/openapi.json documents and tests hold against real replies),
 * loosened so the compiled serializer can only ever write what JSON.stringify would:
 *
 *   - fast-json-stringify drops keys a schema leaves out: every object is `additionalProperties: true`;
 *     a free-form object (info, config, inputs, a gear manifest…) is `{}`, which it writes with JSON.stringify;
 *   - it writes null as "" for a string and 0 for a number: every typed value also admits null;
 *   - it rounds non-integers declared integer: integers are declared as numbers;
 *   - it throws on a missing `required` key and would validate `anyOf` branches per reply: neither is kept;
 *   - container fields a client sets (subject sex, session weight…) are `{}`, whatever the model says.
 *
 * Only the order of keys differs (declared ones first), which JSON gives no meaning.
 * test/reply-schemas.test.ts compares each route's reply with and without these schemas.
 *
 * Listings keep JSON.stringify, measured: on the 250-acquisition page (1.6 MB) V8's JSON.stringify
 * takes 3.2–4.7 ms, these schemas 5.3–6.4 ms, and even an exact closed schema 6.9 ms; worse, the
 * compiled serializer builds its reply by concatenation, so the server then spent 18 % of its CPU in
 * GC (4 % before) and flattened the string again to measure it: the page's p50 rose by a third
 * (bench:storage, baseline and this build in one run). Documents are small enough not to care.
 */

type Schema = Record<string, unknown>;

const REF = '#/components/schemas/';

/**
 * A model's schema, loosened as above; `anyKeys` are properties written as-is. A model met again
 * inside itself (a container's `analyses`) is written as-is there.
 */
function loosen(schema: unknown, anyKeys: ReadonlySet<string> = new Set(), within: readonly string[] = []): Schema {
  if (!schema || typeof schema !== 'object') return {};
  const s = schema as Schema;
  if (typeof s.$ref === 'string') {
    const name = s.$ref.slice(REF.length);
    if (!s.$ref.startsWith(REF) || within.includes(name)) return {};
    return loosen(MODELS[name as ModelName], new Set(), [...within, name]);
  }
  const types = (Array.isArray(s.type) ? s.type : s.type === undefined ? [] : [s.type]) as string[];
  const kinds = types.filter((t) => t !== 'null');
  if (kinds.length !== 1 || s.anyOf || s.oneOf || s.allOf) return {};
  const kind = kinds[0] === 'integer' ? 'number' : kinds[0]!;
  if (kind === 'object') {
    const props = s.properties as Record<string, unknown> | undefined;
    if (!props || !Object.keys(props).length) return {};
    const properties: Record<string, Schema> = {};
    for (const [k, v] of Object.entries(props)) properties[k] = anyKeys.has(k) ? {} : loosen(v, new Set(), within);
    return { type: ['object', 'null'], additionalProperties: true, properties };
  }
  if (kind === 'array') return s.items ? { type: ['array', 'null'], items: loosen(s.items, new Set(), within) } : {};
  return { type: [kind, 'null'] };
}

const CONTAINER_MODEL: Record<ContainerType, ModelName> = {
  project: 'Project',
  subject: 'Subject',
  session: 'Session',
  acquisition: 'Acquisition',
  analysis: 'Analysis',
};

function build() {
  const container = {} as Record<ContainerType, Schema>;
  for (const type of CONTAINER_TYPES) {
    const name = CONTAINER_MODEL[type];
    container[type] = loosen(MODELS[name], new Set(TYPE_FIELDS[type]), [name]);
  }
  const job = loosen(MODELS.Job, new Set(), ['Job']);
  const gear = loosen(MODELS.GearDoc, new Set(), ['GearDoc']);
  return {
    container: (type: ContainerType) => ({ 200: container[type] }),
    file: { 200: loosen(MODELS.FileEntry, new Set(), ['FileEntry']) },
    job: { 200: job },
    gear: { 200: gear },
  };
}

export type ReplySchemas = ReturnType<typeof build>;

let built: ReplySchemas | undefined;

/** The reply schemas, by route. */
export function replies(): ReplySchemas {
  built ??= build();
  return built;
}
