import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on the evolving schema types
export async function up(db: Kysely<any>): Promise<void> {
  // Where a job handed to a batch scheduler (Slurm) stands on the cluster, as its engine reports it
  // (JSON, engine protocol ClusterState); null for jobs no cluster ran.
  await db.schema.alterTable('jobs').addColumn('cluster', 'text').execute();
}
