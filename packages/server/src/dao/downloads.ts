import type { Kysely } from 'kysely';
import type { ContainersTable, Database, FilesTable } from '../db/schema.js';

/**
 * What a subtree download (routes/download.ts) reads. Only the columns an archive needs: a large
 * subtree's info and other JSON would cost memory for nothing.
 */
export type ArchiveFile = Pick<FilesTable, 'id' | 'container_id' | 'name' | 'size' | 'modified'>;
export type ArchiveNode = Pick<ContainersTable, 'id' | 'type' | 'label' | 'parent_id' | 'parent_type'>;
const FILE_COLUMNS = ['id', 'container_id', 'name', 'size', 'modified'] as const;
const NODE_COLUMNS = ['id', 'type', 'label', 'parent_id', 'parent_type'] as const;

/** The containers with these ids (those that exist). */
export async function archiveNodes(db: Kysely<Database>, ids: string[]): Promise<ArchiveNode[]> {
  const rows: ArchiveNode[] = [];
  for (let i = 0; i < ids.length; i += 500)
    rows.push(
      ...(await db
        .selectFrom('containers')
        .select(NODE_COLUMNS)
        .where('id', 'in', ids.slice(i, i + 500))
        .execute()),
    );
  return rows;
}

export async function archiveNode(db: Kysely<Database>, id: string): Promise<ArchiveNode | undefined> {
  return db.selectFrom('containers').select(NODE_COLUMNS).where('id', '=', id).executeTakeFirst();
}

/**
 * The current files of the holders, by holder then name, each chunk of holders in turn; `include`
 * keeps only those file types, `exclude` drops them (untyped files stay).
 */
export async function* archiveFiles(
  db: Kysely<Database>,
  holders: string[],
  types: { include?: string[]; exclude?: string[] },
): AsyncGenerator<ArchiveFile> {
  for (let i = 0; i < holders.length; i += 500) {
    let q = db
      .selectFrom('files')
      .select(FILE_COLUMNS)
      .where('container_id', 'in', holders.slice(i, i + 500))
      .where('current', '=', 1);
    if (types.include?.length) q = q.where('type', 'in', types.include);
    const exclude = types.exclude;
    if (exclude?.length) q = q.where((eb) => eb.or([eb('type', 'is', null), eb('type', 'not in', exclude)]));
    yield* await q.orderBy('container_id').orderBy('name').execute();
  }
}
