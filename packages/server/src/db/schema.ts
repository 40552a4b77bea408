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

export interface Database {
  settings: SettingsTable;
  users: UsersTable;
  api_keys: ApiKeysTable;
  groups: GroupsTable;
  group_permissions: GroupPermissionsTable;
  containers: ContainersTable;
  files: FilesTable;
  roles: RolesTable;
  project_permissions: ProjectPermissionsTable;
}
