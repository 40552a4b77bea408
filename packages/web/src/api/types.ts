import type { FileRef, JobLog } from '@sprocket/sdk/browser';
import type { ClusterState, JobState } from '@sprocket/types';

/**
 * The wire documents the UI reads, as the REST API answers them (only the fields shown). Shapes the
 * SDK already declares come from it; the rest are the raw REST documents (`_id`, not the SDK
 * models' `id`), which the SDK only exposes wrapped in its model classes.
 */
export type { FileRef, JobLog };

export interface User {
  _id: string;
  email: string;
  firstname?: string;
  lastname?: string;
  roles?: string[];
}

export interface SessionInfo {
  user: User;
  csrf_token: string;
}

export interface FileDoc {
  name: string;
  type?: string | null;
  size?: number;
  modality?: string | null;
  classification?: Record<string, string[]>;
}

interface ContainerBase {
  _id: string;
  label: string;
  tags: string[];
  files: FileDoc[];
  created: string;
  modified: string;
  parents: Record<string, string | undefined>;
}

export interface Group {
  _id: string;
  label: string;
  tags?: string[];
}

export interface Project extends ContainerBase {
  group: string;
  description?: string;
}

export interface Session extends ContainerBase {
  subject: { _id: string; label?: string; code?: string };
  project: string;
  timestamp?: string | null;
}

export interface Acquisition extends ContainerBase {
  session: string;
  timestamp?: string | null;
}

/** What a listing with `?fields=` sends for a table: the keys it shows, files reduced to theirs. */
export type ListedFile = Pick<FileDoc, 'modality' | 'classification'>;
export type SessionRowDoc = Pick<Session, '_id' | 'label' | 'subject' | 'timestamp'> & { files: ListedFile[] };
export type AcquisitionRowDoc = Pick<Acquisition, '_id' | 'label' | 'session' | 'timestamp'> & { files: ListedFile[] };

export interface Job {
  id: string;
  _id: string;
  gear_id: string;
  gear_info: { name?: string; version?: string; category?: string };
  state: JobState;
  attempt: number;
  origin: { type: string; id?: string | null; via?: { type: string; id: string; name?: string } };
  inputs: Record<string, FileRef | undefined>;
  destination: { type: string; id: string };
  config: Record<string, unknown>;
  tags: string[];
  label?: string | null;
  batch?: string | null;
  failure_reason?: string | null;
  exit_code?: number | null;
  transitions: Partial<Record<JobState, string>>;
  saved_files: string[];
  created: string;
  modified: string;
  retried?: string | null;
  previous_job_id?: string | null;
  parents: Record<string, string | undefined>;
  /** Jobs run on a batch cluster (Slurm) only: where the job stands there, and the scheduler's job id. */
  cluster?: ClusterState;
}

export interface ContainerSummary {
  _id: string;
  label: string;
  container_type: string;
  path: string;
}

export interface JobListing {
  jobs: Job[];
  containers: Record<string, ContainerSummary>;
}

/** What GET /api/events streams (routes/events.ts). */
export interface JobEventData {
  _id: string;
  state: JobState;
  previous_state: JobState | null;
  gear_name: string;
  destination: { type: string; id: string };
  project_id: string;
  batch: string | null;
  modified: string;
}

export interface FilesEventData {
  container: { type: string; id: string };
  project_id: string;
  names: string[];
}

/** Who or what wrote a file version: a user's upload, or a job (with its gear, filled in by …/versions). */
export interface FileOrigin {
  type: 'user' | 'job' | 'device' | string;
  id?: string;
  via?: { type: string; id: string };
  gear_info?: { id?: string; name?: string; version?: string };
}

/** A file as container documents and …/files/{name}/versions answer it. */
export interface StoredFile extends FileDoc {
  file_id: string;
  version: number;
  mimetype: string;
  size: number;
  origin: FileOrigin;
  tags?: string[];
  created: string;
  modified: string;
  zip_member_count?: number | null;
  from_failed_job?: boolean;
}

export interface Analysis {
  _id: string;
  label: string;
  description?: string;
  parent: { type: string; id: string };
  parents: Record<string, string | undefined>;
  files: StoredFile[];
  job?: string | { id: string; state?: string } | null;
  created: string;
  modified: string;
  tags: string[];
}
