import type { ContainerType } from '@sprocket/types';
import type { Kysely, Transaction } from 'kysely';
import type { ContainersTable, Database } from '../db/schema.js';
import { newId, now } from '../ids.js';

type Chain = Pick<ContainersTable, 'group_id' | 'project_id' | 'subject_id' | 'session_id' | 'acquisition_id'>;

/** The ancestor columns a child of `parent` carries: the parent's own plus the parent itself. */
export function chainBelow(parent: ContainersTable): Chain {
  const chain: Chain = {
    group_id: parent.group_id,
    project_id: parent.project_id,
    subject_id: parent.subject_id,
    session_id: parent.session_id,
    acquisition_id: parent.acquisition_id,
  };
  if (parent.type === 'subject') chain.subject_id = parent.id;
  if (parent.type === 'session') chain.session_id = parent.id;
  if (parent.type === 'acquisition') chain.acquisition_id = parent.id;
  return chain;
}

export interface NewContainer {
  type: ContainerType;
  label: string;
  chain: Chain;
  parentType: string;
  parentId: string;
  info?: Record<string, unknown>;
  tags?: string[];
  fields?: Record<string, unknown>;
  uid?: string | null;
  timestamp?: string | null;
}

export async function insertContainer(db: Kysely<Database> | Transaction<Database>, c: NewContainer): Promise<ContainersTable> {
  const stamp = now();
  const id = newId();
  const row: ContainersTable = {
    id,
    type: c.type,
    label: c.label,
    group_id: c.chain.group_id,
    // A project row points at itself so every row below a project, and the project, share one column to check access on.
    project_id: c.type === 'project' ? id : c.chain.project_id,
    subject_id: c.chain.subject_id,
    session_id: c.chain.session_id,
    acquisition_id: c.chain.acquisition_id,
    parent_type: c.parentType,
    parent_id: c.parentId,
    info: JSON.stringify(c.info ?? {}),
    tags: JSON.stringify(c.tags ?? []),
    notes: '[]',
    fields: JSON.stringify(c.fields ?? {}),
    uid: c.uid ?? null,
    timestamp: c.timestamp ?? null,
    created: stamp,
    modified: stamp,
  };
  await db.insertInto('containers').values(row).execute();
  return row;
}
