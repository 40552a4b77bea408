import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/**
 * The row types of db/schema.ts that code above the data layer holds (a loaded container, a file
 * version, a job), and the database handle it passes back into dao/ functions. Routes name them
 * from here, so nothing above dao/ imports db/ or kysely.
 */
export type {
  BatchesTable,
  CollectionsTable,
  ContainersTable,
  DataViewsTable,
  FilesTable,
  GearRulesTable,
  JobsTable,
  RolesTable,
} from '../db/schema.js';

export type Db = Kysely<Database>;
