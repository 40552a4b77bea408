import type { SwaggerTransformObject } from '@fastify/swagger';
import { MODELS, type ModelName } from '@sprocket/types';

/**
 * Adds the response models to the generated OpenAPI document. The main GET routes serialise
 * through loosened copies of them (http/replies.ts: open objects, nullable values, so nothing a
 * model leaves unnamed is dropped); the document shows the models themselves, which tests prove
 * real replies match.
 */

type Ref = { $ref: string };
type Reply = { model: ModelName; shape: 'one' | 'array' | 'list' };

const CONTAINER_MODELS: Record<string, ModelName> = {
  groups: 'Group',
  projects: 'Project',
  subjects: 'Subject',
  sessions: 'Session',
  acquisitions: 'Acquisition',
  analyses: 'Analysis',
};

/** The 200 reply of each documented GET route (paths as the document spells them). */
function replies(): Map<string, Reply> {
  const m = new Map<string, Reply>();
  for (const [plural, model] of Object.entries(CONTAINER_MODELS)) {
    m.set(`/api/${plural}`, { model, shape: 'list' });
    m.set(`/api/${plural}/{id}`, { model, shape: 'one' });
    if (plural === 'groups') continue;
    m.set(`/api/${plural}/{id}/files/{name}/info`, { model: 'FileEntry', shape: 'one' });
    m.set(`/api/${plural}/{id}/analyses`, { model: 'Analysis', shape: 'list' });
    m.set(`/api/${plural}/{id}/analyses/{aid}`, { model: 'Analysis', shape: 'one' });
    if (plural !== 'analyses') m.set(`/api/${plural}/{id}/all/analyses`, { model: 'Analysis', shape: 'list' });
  }
  for (const [parent, child] of [
    ['projects', 'subjects'],
    ['projects', 'sessions'],
    ['projects', 'acquisitions'],
    ['subjects', 'sessions'],
    ['subjects', 'acquisitions'],
    ['sessions', 'acquisitions'],
  ]) {
    m.set(`/api/${parent}/{id}/${child}/analyses`, { model: 'Analysis', shape: 'list' });
    m.set(`/api/${parent}/{id}/${child}`, { model: CONTAINER_MODELS[child!]!, shape: 'list' });
  }
  m.set('/api/groups/{id}/projects', { model: 'Project', shape: 'list' });
  m.set('/api/collections', { model: 'Collection', shape: 'list' });
  m.set('/api/collections/{id}', { model: 'Collection', shape: 'one' });
  m.set('/api/collections/{id}/sessions', { model: 'Session', shape: 'list' });
  m.set('/api/collections/{id}/acquisitions', { model: 'Acquisition', shape: 'list' });
  m.set('/api/jobs', { model: 'Job', shape: 'list' });
  m.set('/api/jobs/{id}', { model: 'Job', shape: 'one' });
  m.set('/api/gears', { model: 'GearDoc', shape: 'list' });
  m.set('/api/gears/{id}', { model: 'GearDoc', shape: 'one' });
  m.set('/api/users', { model: 'User', shape: 'list' });
  m.set('/api/users/self', { model: 'User', shape: 'one' });
  m.set('/api/users/{uid}', { model: 'User', shape: 'one' });
  m.set('/api/batch', { model: 'Batch', shape: 'array' });
  m.set('/api/batch/{id}', { model: 'Batch', shape: 'one' });
  m.set('/api/projects/{id}/rules', { model: 'Rule', shape: 'array' });
  m.set('/api/projects/{id}/rules/{rid}', { model: 'Rule', shape: 'one' });
  m.set('/api/roles', { model: 'Role', shape: 'array' });
  m.set('/api/roles/{rid}', { model: 'Role', shape: 'one' });
  m.set('/api/config', { model: 'Config', shape: 'one' });
  m.set('/api/version', { model: 'Version', shape: 'one' });
  return m;
}

function replySchema({ model, shape }: Reply): Ref | Record<string, unknown> {
  const one: Ref = { $ref: `#/components/schemas/${model}` };
  if (shape === 'one') return one;
  const array = { type: 'array', items: one };
  if (shape === 'array') return array;
  // List routes answer a bare array, or {results, total, count} when asked for an envelope.
  return {
    anyOf: [
      array,
      {
        type: 'object',
        required: ['results', 'total', 'count'],
        properties: { results: array, total: { type: 'integer' }, count: { type: 'integer' } },
      },
    ],
  };
}

type Operation = { responses?: Record<string, unknown> };
type Doc = { paths?: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, unknown> } };

/** `transformObject` for @fastify/swagger: the document with models and the GET replies pointing at them. */
export const withResponseModels: SwaggerTransformObject = (d) => {
  const doc = ('openapiObject' in d ? d.openapiObject : d.swaggerObject) as Doc;
  doc.components = { ...doc.components, schemas: { ...doc.components?.schemas, ...MODELS } };
  for (const [path, reply] of replies()) {
    const get = doc.paths?.[path]?.get;
    if (!get) continue;
    get.responses = {
      ...get.responses,
      200: {
        description: `${reply.model}${reply.shape === 'one' ? '' : ' list'}`,
        content: { 'application/json': { schema: replySchema(reply) } },
      },
    };
  }
  return doc as ReturnType<SwaggerTransformObject>;
};
