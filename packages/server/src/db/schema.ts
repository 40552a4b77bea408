/**
 * Table shapes as Kysely sees them. JSON-valued columns hold JSON text on every dialect so one
 * query path serves SQLite and PostgreSQL; timestamps are ISO-8601 text, which sorts correctly.
 */
export interface UsersTable {
  id: string;
  email: string;
  firstname: string;
  lastname: string;
  roles: string;
  disabled: number;
  created: string;
  modified: string;
}

export interface ApiKeysTable {
  id: string;
  user_id: string;
  hash: string;
  label: string;
  type: string;
  job_id: string | null;
  read_only: number;
  created: string;
  last_used: string | null;
  revoked: number;
}

export interface GroupsTable {
  id: string;
  label: string;
  info: string;
  tags: string;
  created: string;
  modified: string;
}

export interface GroupPermissionsTable {
  group_id: string;
  user_id: string;
  access: string;
}

export interface ContainersTable {
  id: string;
  type: string;
  label: string;
  group_id: string;
  project_id: string | null;
  subject_id: string | null;
  session_id: string | null;
  acquisition_id: string | null;
  /** The direct parent: for analyses any level, otherwise the level above. */
  parent_type: string;
  parent_id: string;
  info: string;
  tags: string;
  notes: string;
  /** Per-type fields (subject sex, session operator, analysis gear_info …) as one JSON object. */
  fields: string;
  uid: string | null;
  timestamp: string | null;
  created: string;
  modified: string;
}

export interface FilesTable {
  id: string;
  /** Stable across versions of the same name in the same container. */
  file_id: string;
  container_type: string;
  container_id: string;
  project_id: string | null;
  name: string;
  version: number;
  /** 1 for the version a name resolves to now; older versions stay readable by version number. */
  current: number;
  type: string | null;
  mimetype: string;
  size: number;
  /** sha-384 of the content, hex. */
  hash: string;
  modality: string | null;
  classification: string;
  info: string;
  tags: string;
  origin: string;
  zip_member_count: number | null;
  from_failed_job: number;
  created: string;
  modified: string;
  replaced: string | null;
}

export interface RolesTable {
  id: string;
  label: string;
  actions: string;
  default_flywheel_role: string | null;
  created: string;
  modified: string;
}

export interface ProjectPermissionsTable {
  project_id: string;
  user_id: string;
  role_ids: string;
}

/** Site-wide settings that must be shared by every server process (e.g. the ticket-signing secret). */
export interface SettingsTable {
  key: string;
  value: string;
}

export interface DataViewsTable {
  id: string;
  parent: string;
  label: string;
  spec: string;
  origin: string;
  created: string;
  modified: string;
}

export interface GearsTable {
  id: string;
  name: string;
  version: string;
  category: string;
  /** The manifest exactly as uploaded (parsed and re-serialised). */
  manifest: string;
  exchange: string;
  /** File-store key of the uploaded tar.gz (null for gears registered without files). */
  archive_key: string | null;
  archive_size: number;
  disabled: number;
  /** The name's owner when this version was stored (null: site admins); auto_update follows only the same owner. */
  owner_id: string | null;
  /** The user who uploaded this version (null for gears stored before owners were recorded). */
  uploaded_by: string | null;
  created: string;
  modified: string;
}

/** The container image archive uploaded with a gear (at most one per gear version). */
export interface GearImagesTable {
  gear_id: string;
  /** File-store key of the archive as uploaded (docker-archive tar, maybe gzipped). */
  archive_key: string;
  size: number;
  /** `sha256:<hex>` of the archive's bytes. */
  digest: string;
  /** The image name it provides: the one the gear's manifest names. */
  image: string;
  created: string;
}

/** Who may upload new versions of a gear name: the owner (null: site admins only) and site admins. */
export interface GearNamesTable {
  name: string;
  owner_id: string | null;
  created: string;
  modified: string;
}

export interface DevicesTable {
  id: string;
  label: string;
  /** 'engine' for now; the column leaves room for other device kinds (scanners, uploaders). */
  type: string;
  disabled: number;
  last_seen: string | null;
  created: string;
  modified: string;
}

export interface JobsTable {
  id: string;
  gear_id: string;
  gear_name: string;
  gear_info: string;
  state: string;
  priority: string;
  /** JOB_PRIORITIES[priority]: what the claim orders by. */
  priority_rank: number;
  attempt: number;
  previous_job_id: string | null;
  retried: string | null;
  origin: string;
  origin_id: string | null;
  inputs: string;
  destination_type: string;
  destination_id: string;
  /** The config.json payload minus secrets. */
  config: string;
  tags: string;
  label: string | null;
  batch: string | null;
  /** The gear's capabilities: an engine must offer all of them to claim the job. */
  capabilities: string;
  resources: string;
  saved_files: string;
  produced_metadata: string | null;
  failure_reason: string | null;
  exit_code: number | null;
  failed_output_accepted: number;
  profile: string;
  parents: string;
  related_container_ids: string;
  device_id: string | null;
  claimed_by: string | null;
  /** Last sign of life from the engine running it; the orphan sweep reads this. */
  heartbeat: string | null;
  /** Where the job stands on a batch cluster (JSON ClusterState), when its engine handed it to one. */
  cluster: string | null;
  ticket: string | null;
  ticket_success: number | null;
  t_running: string | null;
  t_complete: string | null;
  t_failed: string | null;
  t_cancelled: string | null;
  created: string;
  modified: string;
}

export interface JobContainersTable {
  job_id: string;
  container_id: string;
}

export interface JobLogsTable {
  id: string;
  job_id: string;
  /** JSON array of {fd, msg}. */
  lines: string;
  created: string;
}

export interface BatchesTable {
  id: string;
  gear_id: string;
  /** 'pending' (proposed), 'launched' (state then derived from the jobs) or 'cancelled'. */
  state: string;
  origin: string;
  origin_id: string | null;
  config: string;
  /** What run launches: `{inputs: [...]}` or `{destinations: [...]}`, plus analysis, tags, priority. */
  proposal: string;
  /** The proposal's verdicts: matched / ambiguous / not_matched / improper_permissions ids. */
  summary: string;
  created: string;
  modified: string;
}

export interface GearRulesTable {
  id: string;
  project_id: string;
  gear_id: string;
  gear_name: string;
  name: string;
  config: string | null;
  fixed_inputs: string;
  auto_update: number;
  /** JSON condition lists `[{type, value, regex?}]` (the rule's `any`, `all`, `not`). */
  any_of: string;
  all_of: string;
  none_of: string;
  disabled: number;
  priority: string | null;
  compute_provider_id: string | null;
  created_by: string;
  created: string;
  modified: string;
}

/** A curated set of sessions and acquisitions (migration 0007); outside the group → project tree. */
export interface CollectionsTable {
  id: string;
  label: string;
  description: string | null;
  /** The user who created it; they hold the admin role on it from the start. */
  curator: string;
  info: string;
  tags: string;
  notes: string;
  created: string;
  modified: string;
}

export interface CollectionPermissionsTable {
  collection_id: string;
  user_id: string;
  role_ids: string;
}

/** One container added to a collection: `level` is 'session' or 'acquisition'. */
export interface CollectionMembersTable {
  collection_id: string;
  container_id: string;
  level: string;
  created: string;
}

export interface Database {
  collections: CollectionsTable;
  collection_permissions: CollectionPermissionsTable;
  collection_members: CollectionMembersTable;
  batches: BatchesTable;
  gear_rules: GearRulesTable;
  data_views: DataViewsTable;
  settings: SettingsTable;
  users: UsersTable;
  api_keys: ApiKeysTable;
  groups: GroupsTable;
  group_permissions: GroupPermissionsTable;
  containers: ContainersTable;
  files: FilesTable;
  roles: RolesTable;
  project_permissions: ProjectPermissionsTable;
  gears: GearsTable;
  gear_names: GearNamesTable;
  gear_images: GearImagesTable;
  devices: DevicesTable;
  jobs: JobsTable;
  job_containers: JobContainersTable;
  job_logs: JobLogsTable;
}
