import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  Acquisition,
  Analysis,
  Batch,
  FileEntry,
  Gear,
  Group,
  Job,
  Project,
  Role,
  Rule,
  Session,
  SiteConfig,
  Subject,
  User,
  VersionInfo,
} from '../src/index.js';
import { Client } from '../src/index.js';
import { manifest, packGear } from './gears.js';
import { adminKey, startTestServer, type TestServer, uniq } from './helpers.js';

/**
 * The SDK's typed models against the response models of the server's /api/openapi.json (which the
 * server's own tests prove against real replies). Each table row names every data property its
 * SDK type declares — the compiler refuses a row that misses one — and the test checks each is a
 * field of the server's model and, where the server always sends it, set on a real instance. A
 * field renamed on either side fails.
 */

type DataKeys<T> = { [K in keyof T]-?: T[K] extends (...a: never[]) => unknown ? never : K }[keyof T];
type KnownKeys<T> = keyof { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] };
type Wire<T> = Exclude<DataKeys<Pick<T, KnownKeys<T>>>, 'client'> & string;

interface Row {
  sdk: string;
  schema: string;
  /** Wire fields, in the SDK's names (`id` for the wire's `_id`). */
  fields: readonly string[];
}

/**
 * A row for SDK type T. `members` are its properties that are not wire fields (getters, links the
 * SDK sets); `complete` only compiles as `true` when fields and members name every one.
 */
function row<T>(sdk: string, schema: string) {
  return <const F extends readonly Wire<T>[], const M extends readonly Wire<T>[]>(
    fields: F,
    members: M,
    complete: [Exclude<Wire<T>, F[number] | M[number]>] extends [never] ? true : { missing: Exclude<Wire<T>, F[number] | M[number]> },
  ): Row => {
    void members;
    void complete;
    return { sdk, schema, fields };
  };
}

const CONTAINER = [
  'id',
  'label',
  'container_type',
  'parents',
  'info',
  'info_exists',
  'tags',
  'notes',
  'files',
  'created',
  'modified',
] as const;
const SUBJECT_FIELDS = [
  'master_code',
  'firstname',
  'lastname',
  'sex',
  'age',
  'type',
  'cohort',
  'race',
  'ethnicity',
  'species',
  'strain',
  'date_of_birth',
] as const;

const TABLE: Row[] = [
  row<Group>('Group', 'Group')(['id', 'label', 'info', 'tags', 'permissions', 'created', 'modified'], ['containerType', 'projects'], true),
  row<Project>('Project', 'Project')(
    [...CONTAINER, 'group', 'description'],
    ['containerType', 'analyses', 'subjects', 'sessions', 'acquisitions'],
    true,
  ),
  row<Subject>('Subject', 'Subject')(
    [...CONTAINER, 'project', 'code', ...SUBJECT_FIELDS],
    ['containerType', 'analyses', 'sessions', 'acquisitions'],
    true,
  ),
  row<Session>('Session', 'Session')(
    [...CONTAINER, 'group', 'project', 'subject', 'uid', 'timestamp', 'timezone', 'operator', 'age', 'weight'],
    ['containerType', 'analyses', 'acquisitions'],
    true,
  ),
  row<Acquisition>('Acquisition', 'Acquisition')(
    [...CONTAINER, 'session', 'uid', 'timestamp', 'timezone'],
    ['containerType', 'analyses'],
    true,
  ),
  row<Analysis>('Analysis', 'Analysis')(
    [...CONTAINER, 'parent', 'description', 'inputs', 'job', 'gear_info', 'user'],
    ['containerType'],
    true,
  ),
  row<FileEntry>('FileEntry', 'FileEntry')(
    [
      'id',
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
      'info',
      'info_exists',
      'origin',
      'parent_ref',
      'zip_member_count',
      'from_failed_job',
      'created',
      'modified',
      'replaced',
    ],
    ['parent'],
    true,
  ),
  row<User>('User', 'User')(
    ['id', 'email', 'firstname', 'lastname', 'roles', 'root', 'disabled', 'api_key', 'created', 'modified'],
    [],
    true,
  ),
  row<Job>('Job', 'Job')(
    [
      'id',
      'gear_id',
      'gear_info',
      'state',
      'inputs',
      'destination',
      'config',
      'tags',
      'label',
      'priority',
      'attempt',
      'previous_job_id',
      'origin',
      'failure_reason',
      'exit_code',
      'transitions',
      'profile',
      'saved_files',
      'produced_metadata',
      'batch',
      'related_container_ids',
      'cluster',
      'created',
      'modified',
    ],
    ['terminal'],
    true,
  ),
  row<Gear>('Gear', 'GearDoc')(['id', 'category', 'gear', 'exchange', 'created', 'modified'], ['name', 'version', 'isAnalysis'], true),
  row<Batch>('Batch', 'Batch')(
    ['id', 'gear_id', 'state', 'config', 'origin', 'jobs', 'job_states', 'matched', 'gear_info', 'targets', 'created', 'modified'],
    [],
    true,
  ),
  row<Rule>('Rule', 'Rule')(
    [
      'id',
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
      'compute_provider_id',
    ],
    [],
    true,
  ),
  row<Role>('Role', 'Role')(['id', 'label', 'actions', 'default_flywheel_role', 'in_use'], [], true),
  row<SiteConfig>('SiteConfig', 'Config')(['site', 'auth', 'features', 'signed_url', 'created', 'modified'], [], true),
  row<VersionInfo>('VersionInfo', 'Version')(['id', 'database', 'release', 'flywheel_release', 'cli_version', 'applied_fixes'], [], true),
];

const wireName = (f: string) => (f === 'id' ? '_id' : f);

let s: TestServer;
let schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }>;
const instances = new Map<string, object>();

beforeAll(async () => {
  s = await startTestServer();
  const res = await fetch(`${s.url}/openapi.json`, { headers: { Authorization: `scitran-user ${adminKey(s)}` } });
  schemas = ((await res.json()) as { components: { schemas: typeof schemas } }).components.schemas;

  // One instance of each model, as a session with the SDK gets them.
  const fw = new Client(adminKey(s));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sdk-models-'));
  try {
    instances.set('User', await fw.getCurrentUser());
    instances.set('SiteConfig', await fw.getConfig());
    instances.set('VersionInfo', await fw.getVersion());
    instances.set('Role', (await fw.getAllRoles())[0]!);
    const group = await fw.addGroup({ id: uniq('models'), label: 'Models' });
    instances.set('Group', await fw.getGroup(group.id));
    const project = await group.addProject({ label: 'P', description: 'about' });
    const subject = await project.addSubject({ label: 'sub-01', sex: 'female' });
    const session = await subject.addSession({ label: 'ses-01', timestamp: '2020-01-01T00:00:00Z' });
    const acq = await session.addAcquisition({ label: 'T1w', uid: '1.2.3' });
    const src = path.join(tmp, 'scan.dicom.zip');
    fs.writeFileSync(src, 'not really a dicom zip');
    const file = await acq.uploadFile(src, { metadata: { type: 'dicom', modality: 'MR' } });
    for (const c of [project, subject, session, acq]) await c.reload();
    instances.set('Project', project).set('Subject', subject).set('Session', session).set('Acquisition', acq);
    instances.set('FileEntry', file);
    instances.set('Analysis', await session.addAnalysis({ label: 'by hand', inputs: [file] }));

    const name = uniq('models-');
    const gear = await fw.addGear({ name: `${name}.tar.gz`, data: packGear(manifest(name, 'converter'), { run: '#!/bin/sh\nexit 0\n' }) });
    instances.set('Gear', await fw.getGear(gear.id));
    instances.set('Job', await fw.getJob(await gear.run({ inputs: { dicom: file }, destination: acq })));
    const proposal = await gear.proposeBatch([session]);
    instances.set('Batch', await fw.getBatch(proposal.id));
    const rid = await project.addRule({
      gear_id: gear.id,
      name: 'convert',
      any: [],
      all: [{ type: 'file.type', value: 'dicom' }],
      not: [],
    });
    instances.set('Rule', await fw.getProjectRule(project.id, rid));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
afterAll(async () => {
  await s?.stop();
});

describe('SDK models against the response models of /api/openapi.json', () => {
  it('declares only fields the server documents', () => {
    const problems: string[] = [];
    for (const r of TABLE) {
      const props = schemas[r.schema]?.properties;
      if (!props) {
        problems.push(`${r.sdk}: no ${r.schema} schema in openapi.json`);
        continue;
      }
      for (const f of r.fields) if (!(wireName(f) in props)) problems.push(`${r.sdk}.${f}: not a field of ${r.schema}`);
    }
    expect(problems).toEqual([]);
  });

  it('carries every declared field the server always sends on the objects a session returns', () => {
    const problems: string[] = [];
    for (const r of TABLE) {
      const obj = instances.get(r.sdk);
      if (!obj) {
        problems.push(`${r.sdk}: no instance`);
        continue;
      }
      const required = new Set(schemas[r.schema]?.required ?? []);
      for (const f of r.fields) if (required.has(wireName(f)) && !(f in obj)) problems.push(`${r.sdk}.${f}: missing on the instance`);
    }
    expect(problems).toEqual([]);
  });
});
