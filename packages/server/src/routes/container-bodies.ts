import { type Static, Type } from '@sinclair/typebox';
import type { ContainerType } from '@sprocket/types';
import type { JsonObject } from '../dao/json.js';
import { INFO, LABEL, NO_CONTROL_CHARACTERS, OBJECT_ID_SCHEMA, TAG, TAGS } from './schemas.js';

/** Request bodies for creating and modifying each container type. */
const SUBJECT_FIELDS = {
  code: LABEL,
  master_code: { type: 'string', maxLength: 256, format: NO_CONTROL_CHARACTERS },
  firstname: { type: 'string', maxLength: 64 },
  lastname: { type: 'string', maxLength: 64 },
  sex: { type: ['string', 'null'], enum: ['male', 'female', 'other', 'unknown', null] },
  age: { type: ['integer', 'null'] },
  type: { type: ['string', 'null'], enum: ['human', 'animal', 'phantom', null] },
  cohort: { type: ['string', 'null'], enum: ['Control', 'Study', 'Training', 'Test', 'Validation', null] },
  race: { type: ['string', 'null'], maxLength: 64 },
  ethnicity: { type: ['string', 'null'], maxLength: 64 },
  species: { type: ['string', 'null'], maxLength: 64 },
  strain: { type: ['string', 'null'], maxLength: 64 },
  date_of_birth: { type: ['string', 'null'], format: 'date-time' },
} as const;

const TIME_FIELDS = {
  uid: { type: ['string', 'null'], maxLength: 64 },
  timestamp: { type: ['string', 'null'], format: 'date-time' },
  timezone: { type: ['string', 'null'], maxLength: 64 },
} as const;

const SESSION_FIELDS = {
  ...TIME_FIELDS,
  operator: { type: ['string', 'null'], maxLength: 128 },
  age: { type: ['integer', 'null'] },
  weight: { type: ['number', 'null'] },
} as const;

const COMMON = { label: LABEL, info: INFO, tags: { type: 'array', items: TAG } } as const;

const MODIFY_PROPS: Record<ContainerType, Record<string, unknown>> = {
  project: { ...COMMON, description: { type: 'string', maxLength: 5000 } },
  subject: { ...COMMON, ...SUBJECT_FIELDS },
  // `subject` / `session` move the container (dao/moves.ts), as Flywheel's PUT takes them.
  session: {
    ...COMMON,
    ...SESSION_FIELDS,
    subject: { type: 'object', additionalProperties: false, required: ['_id'], properties: { _id: OBJECT_ID_SCHEMA } },
  },
  acquisition: { ...COMMON, ...TIME_FIELDS, session: OBJECT_ID_SCHEMA },
  analysis: { label: LABEL, info: INFO, tags: COMMON.tags, description: { type: 'string', maxLength: 5000 } },
};

const CREATE_EXTRA: Record<Exclude<ContainerType, 'analysis'>, Record<string, unknown>> = {
  project: { group: { type: 'string', minLength: 1 } },
  subject: { project: OBJECT_ID_SCHEMA },
  session: {
    project: OBJECT_ID_SCHEMA,
    subject: {
      type: 'object',
      additionalProperties: false,
      properties: { _id: OBJECT_ID_SCHEMA, label: LABEL, ...SUBJECT_FIELDS },
    },
  },
  acquisition: { session: OBJECT_ID_SCHEMA },
};

const REQUIRED: Record<Exclude<ContainerType, 'analysis'>, string[]> = {
  project: ['group', 'label'],
  subject: ['project'],
  session: ['label'],
  acquisition: ['session', 'label'],
};

/**
 * What a create or modify body holds, for whichever type: the fields common to all typed, the
 * per-type ones (checked by the schema of that type) read by name. The schemas differ per container
 * type and are built in a loop over the types, so their static type is declared here once.
 */
export type ContainerBody = JsonObject & { label?: string; info?: JsonObject; tags?: string[] };

export function createBody(type: Exclude<ContainerType, 'analysis'>) {
  return Type.Unsafe<ContainerBody>({
    type: 'object',
    additionalProperties: false,
    required: REQUIRED[type],
    properties: { ...MODIFY_PROPS[type], ...CREATE_EXTRA[type] },
  });
}

export function modifyBody(type: ContainerType) {
  return Type.Unsafe<ContainerBody>({ type: 'object', additionalProperties: false, minProperties: 1, properties: MODIFY_PROPS[type] });
}

export const analysisCreateBody = Type.Object(
  {
    label: LABEL,
    description: Type.Optional(Type.String({ maxLength: 5000 })),
    info: Type.Optional(INFO),
    tags: Type.Optional(TAGS),
    inputs: Type.Optional(Type.Array(Type.Object({ type: Type.String(), id: OBJECT_ID_SCHEMA, name: Type.String({ minLength: 1 }) }))),
    job: Type.Optional(Type.Unsafe<JsonObject>({ type: 'object' })),
    compute_provider_id: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type AnalysisCreateBody = Static<typeof analysisCreateBody>;
