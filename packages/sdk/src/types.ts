/** Plain data shapes of the API, in Flywheel's field names (`_id` → `id`, as Flywheel's SDK does). */
import type { JobState } from '@sprocket/types';

export type { JobState };
export type Classification = Record<string, string[]>;

export interface ContainerRef {
  type: string;
  id: string;
}

/** A file as a job input or analysis input: its container and name. */
export interface FileRef {
  type: string;
  id: string;
  name: string;
}

export interface Origin {
  type: 'user' | 'device' | 'job' | 'system' | 'unknown' | string;
  id: string;
  via?: { type: string; id: string };
  /** On file versions made by a job: the gear that ran (Sprocket). */
  gear_info?: { id: string; name: string; version: string };
  /** On file versions made by a job: the job's own origin, who launched it (Sprocket). */
  launched_by?: { type: string; id: string | null; via?: { type: string; id: string; user?: string } };
}

export type { Parents } from '@sprocket/types';

export interface Note {
  id: string;
  text: string;
  user: string;
  created: string;
  modified: string;
}

/** Group access of one user (legacy levels). */
export interface GroupPermission {
  id: string;
  access: 'ro' | 'rw' | 'admin';
}

/** Project roles of one user. */
export interface ProjectPermission {
  id: string;
  role_ids: string[];
}

export interface Role {
  id: string;
  label: string;
  actions: string[];
  default_flywheel_role?: 'ro' | 'rw' | 'admin' | null;
  in_use?: boolean;
}

export interface SiteConfig {
  site: { id: string; name: string; api_url: string; central_url: string | null; registered: boolean; ssl_cert: string | null };
  auth: Record<string, unknown>;
  features: Record<string, boolean>;
  signed_url: boolean;
  created: string;
  modified: string;
  [k: string]: unknown;
}

export interface VersionInfo {
  id: string;
  database: number;
  release: string;
  flywheel_release: string;
  cli_version: string;
  applied_fixes: Record<string, string>;
  [k: string]: unknown;
}

export interface AuthStatus {
  origin: Origin;
  user_is_admin: boolean;
  is_device: boolean;
  roles: string[];
}

export interface JobLogLine {
  fd: number;
  msg: string;
}

export interface JobLog {
  id: string;
  logs: JobLogLine[];
}

/** A gear rule condition (`{type: 'file.type', value: 'dicom'}`). */
export interface RuleCondition {
  type:
    | 'file.type'
    | 'file.name'
    | 'file.modality'
    | 'file.classification'
    | 'container.has-type'
    | 'container.has-classification'
    | string;
  value: string;
  regex?: boolean;
}

export interface Rule {
  id: string;
  project_id: string;
  gear_id: string;
  name: string;
  config?: Record<string, unknown>;
  fixed_inputs?: { input: string; type: string; id: string; name: string }[];
  auto_update?: boolean;
  any: RuleCondition[];
  all: RuleCondition[];
  not: RuleCondition[];
  disabled?: boolean;
  compute_provider_id?: string;
  [k: string]: unknown;
}

/** What `addProjectRule` takes (the rule minus what the server assigns). */
export type RuleInput = Omit<Partial<Rule>, 'id' | 'project_id'> & { gear_id: string; name: string };

/** What applying a rule to existing files did (or, in a dry run, would do). */
export interface RuleApplyResult {
  dry_run: boolean;
  launched?: number;
  would_launch?: number;
  jobs: Record<string, unknown>[];
  already_launched: number;
  refused: unknown[];
}
