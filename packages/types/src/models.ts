/**
 * JSON Schemas of the documents the API sends, in Flywheel's field names. The server publishes
 * them as `components.schemas` of /api/openapi.json (replies are not serialised through them, so
 * a field missing here is never dropped from a reply); its tests validate real replies against
 * them and the SDK's tests check its model fields against them, so neither side can drift.
 */

export type ModelSchema = {
  type: 'object';
  additionalProperties: true;
  required: string[];
  properties: Record<string, unknown>;
};

const ref = (name: 'FileEntry' | 'Analysis' | 'Job') => ({ $ref: `#/components/schemas/${name}` });
const str = { type: 'string' } as const;
const strOrNull = { type: ['string', 'null'] } as const;
const intOrNull = { type: ['integer', 'null'] } as const;
const numOrNull = { type: ['number', 'null'] } as const;
const bool = { type: 'boolean' } as const;
const obj = { type: 'object' } as const;
const strings = { type: 'array', items: str } as const;
const typedRef = { type: 'object', required: ['type', 'id'], properties: { type: str, id: str } } as const;

function model(required: string[], properties: Record<string, unknown>): ModelSchema {
  return { type: 'object', additionalProperties: true, required, properties };
}

const STAMPS = { created: str, modified: str };

/** What every project, subject, session, acquisition and analysis document carries. */
const CONTAINER_REQUIRED = ['_id', 'container_type', 'label', 'parents', 'tags', 'notes', 'info_exists', 'files', 'created', 'modified'];
const CONTAINER_PROPS = {
  _id: str,
  container_type: { type: 'string', enum: ['project', 'subject', 'session', 'acquisition', 'analysis'] },
  label: str,
  parents: { type: 'object', required: ['group'], properties: { group: str, project: str, subject: str, session: str, acquisition: str } },
  tags: strings,
  notes: { type: 'array', items: obj },
  info_exists: bool,
  info: obj,
  files: { type: 'array', items: ref('FileEntry') },
  analyses: { type: 'array', items: ref('Analysis') },
  ...STAMPS,
};
const TIME_PROPS = { uid: strOrNull, timestamp: strOrNull, timezone: strOrNull };
const SUBJECT_PROPS = {
  code: str,
  master_code: str,
  firstname: str,
  lastname: str,
  sex: strOrNull,
  age: intOrNull,
  type: strOrNull,
  cohort: strOrNull,
  race: strOrNull,
  ethnicity: strOrNull,
  species: strOrNull,
  strain: strOrNull,
  date_of_birth: strOrNull,
};

export const MODELS = {
  Group: model(['_id', 'label', 'tags', 'permissions', 'created', 'modified'], {
    _id: str,
    label: str,
    info: obj,
    tags: strings,
    permissions: { type: 'array', items: { type: 'object', required: ['_id', 'access'], properties: { _id: str, access: str } } },
    ...STAMPS,
  }),
  Project: model([...CONTAINER_REQUIRED, 'group', 'permissions'], {
    ...CONTAINER_PROPS,
    group: str,
    description: str,
    permissions: { type: 'array', items: { type: 'object', required: ['_id', 'role_ids'], properties: { _id: str, role_ids: strings } } },
  }),
  Subject: model([...CONTAINER_REQUIRED, 'project', 'code'], { ...CONTAINER_PROPS, project: str, ...SUBJECT_PROPS }),
  Session: model([...CONTAINER_REQUIRED, 'group', 'project', 'subject', 'uid', 'timestamp'], {
    ...CONTAINER_PROPS,
    group: str,
    project: str,
    subject: { type: 'object', required: ['_id'], properties: { _id: str, label: str, code: str } },
    ...TIME_PROPS,
    operator: strOrNull,
    age: intOrNull,
    weight: numOrNull,
  }),
  Acquisition: model([...CONTAINER_REQUIRED, 'session', 'uid', 'timestamp'], { ...CONTAINER_PROPS, session: str, ...TIME_PROPS }),
  // A curated set of sessions and acquisitions (outside the hierarchy: no parents, no group).
  Collection: model(
    ['_id', 'container_type', 'label', 'curator', 'tags', 'notes', 'info_exists', 'files', 'permissions', 'created', 'modified'],
    {
      _id: str,
      container_type: { type: 'string', enum: ['collection'] },
      label: str,
      description: str,
      curator: str,
      tags: strings,
      notes: { type: 'array', items: obj },
      info_exists: bool,
      info: obj,
      files: { type: 'array', items: ref('FileEntry') },
      permissions: { type: 'array', items: { type: 'object', required: ['_id', 'role_ids'], properties: { _id: str, role_ids: strings } } },
      ...STAMPS,
    },
  ),
  Analysis: model([...CONTAINER_REQUIRED, 'parent'], {
    ...CONTAINER_PROPS,
    parent: typedRef,
    description: str,
    inputs: { type: 'array', items: ref('FileEntry') },
    user: str,
    job: { type: ['string', 'object'] },
    gear_info: { type: 'object', properties: { id: str, category: str, name: str, version: str } },
  }),
  FileEntry: model(
    [
      '_id',
      'file_id',
      'version',
      'name',
      'type',
      'mimetype',
      'size',
      'hash',
      'modality',
      'classification',
      'tags',
      'origin',
      'parent_ref',
      'info_exists',
      'zip_member_count',
      'created',
      'modified',
      'replaced',
    ],
    {
      _id: str,
      file_id: str,
      version: { type: 'integer' },
      name: str,
      type: strOrNull,
      mimetype: str,
      size: { type: 'integer' },
      hash: { type: 'string', pattern: '^v0-sha384-[0-9a-f]{96}$' },
      modality: strOrNull,
      classification: obj,
      tags: strings,
      origin: { type: 'object', required: ['type', 'id'], properties: { type: str, id: strOrNull } },
      parent_ref: typedRef,
      info_exists: bool,
      info: obj,
      zip_member_count: intOrNull,
      from_failed_job: bool,
      ...STAMPS,
      replaced: strOrNull,
    },
  ),
  User: model(['_id', 'email', 'firstname', 'lastname', 'roles', 'root', 'disabled', 'created', 'modified'], {
    _id: str,
    email: str,
    firstname: str,
    lastname: str,
    roles: strings,
    root: bool,
    disabled: bool,
    api_key: obj,
    ...STAMPS,
  }),
  Job: model(
    [
      'id',
      '_id',
      'gear_id',
      'gear_info',
      'state',
      'priority',
      'attempt',
      'origin',
      'inputs',
      'destination',
      'config',
      'tags',
      'transitions',
      'saved_files',
      'created',
      'modified',
    ],
    {
      id: str,
      _id: str,
      gear_id: str,
      gear_info: {
        type: 'object',
        required: ['id', 'category', 'name', 'version'],
        properties: { id: str, category: str, name: str, version: str, capabilities: strings },
      },
      state: { type: 'string', enum: ['pending', 'running', 'complete', 'failed', 'cancelled'] },
      priority: str,
      attempt: { type: 'integer' },
      previous_job_id: strOrNull,
      retried: strOrNull,
      origin: { type: 'object', required: ['type'], properties: { type: str, id: strOrNull } },
      inputs: obj,
      destination: typedRef,
      config: obj,
      tags: strings,
      label: strOrNull,
      batch: strOrNull,
      resources: obj,
      saved_files: strings,
      produced_metadata: { type: ['object', 'null'] },
      failure_reason: strOrNull,
      exit_code: intOrNull,
      failed_output_accepted: bool,
      transitions: { type: 'object', properties: { running: str, complete: str, failed: str, cancelled: str } },
      profile: obj,
      parents: obj,
      related_container_ids: strings,
      claimed_by: strOrNull,
      // Jobs run on a batch cluster only (engine protocol ClusterState): the scheduler's state and job id.
      cluster: {
        type: 'object',
        properties: { scheduler: str, job_id: str, state: str, reason: str, summary: str, updated: str },
      },
      request: obj,
      ...STAMPS,
    },
  ),
  GearDoc: model(['_id', 'category', 'gear', 'exchange', 'created', 'modified'], {
    _id: str,
    category: str,
    gear: { type: 'object', required: ['name', 'version'], properties: { name: str, label: str, version: str, inputs: obj, config: obj } },
    exchange: obj,
    ...STAMPS,
  }),
  Batch: model(['_id', 'gear_id', 'state', 'origin', 'config', 'jobs', 'job_states', 'matched', 'created', 'modified'], {
    _id: str,
    gear_id: str,
    state: str,
    origin: obj,
    config: obj,
    jobs: { type: 'array', items: { anyOf: [str, ref('Job')] } },
    job_states: { type: 'object', additionalProperties: { type: 'integer' } },
    matched: { type: 'integer' },
    skipped: { type: 'array' },
    // Sprocket, for listings: the gear's name and version, and what the batch was proposed over.
    gear_info: { type: 'object', properties: { id: str, name: str, version: str } },
    targets: { type: 'array', items: { type: 'object', required: ['type', 'id'], properties: { type: str, id: str, path: str } } },
    ...STAMPS,
  }),
  Rule: model(
    [
      '_id',
      'project_id',
      'gear_id',
      'name',
      'config',
      'fixed_inputs',
      'auto_update',
      'any',
      'all',
      'not',
      'disabled',
      'priority',
      'created',
      'modified',
    ],
    {
      _id: str,
      project_id: str,
      gear_id: str,
      name: str,
      config: obj,
      fixed_inputs: { type: 'array', items: obj },
      auto_update: bool,
      any: { type: 'array', items: obj },
      all: { type: 'array', items: obj },
      not: { type: 'array', items: obj },
      disabled: bool,
      priority: strOrNull,
      compute_provider_id: strOrNull,
      ...STAMPS,
    },
  ),
  Role: model(['_id', 'label', 'actions', 'default_flywheel_role', 'in_use'], {
    _id: str,
    label: str,
    actions: strings,
    default_flywheel_role: strOrNull,
    in_use: bool,
  }),
  Config: model(['site', 'auth', 'features', 'signed_url', 'created', 'modified'], {
    site: {
      type: 'object',
      required: ['id', 'name', 'api_url'],
      properties: { id: str, name: str, api_url: str, central_url: strOrNull, registered: bool, ssl_cert: strOrNull },
    },
    auth: obj,
    features: { type: 'object', additionalProperties: bool },
    signed_url: bool,
    ...STAMPS,
  }),
  Version: model(['_id', 'database', 'release', 'flywheel_release', 'cli_version', 'applied_fixes'], {
    _id: str,
    database: { type: 'integer' },
    release: str,
    flywheel_release: str,
    sprocket_version: str,
    cli_version: str,
    applied_fixes: obj,
  }),
} satisfies Record<string, ModelSchema>;

export type ModelName = keyof typeof MODELS;
