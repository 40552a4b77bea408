import { guessFileType, guessMimetype } from '@sprocket/types';
import type { ServerContext } from '../context.js';
import type { JsonObject } from '../dao/json.js';
import type { ContainersTable, FilesTable } from '../db/schema.js';
import { newId, now } from '../ids.js';
import type { StagedBlob } from './store.js';

/** File fields a client or gear may set alongside the content. */
export interface FileMeta {
  type?: string | null;
  modality?: string | null;
  classification?: JsonObject;
  info?: JsonObject;
  tags?: string[];
}

export interface StagedFile {
  name: string;
  blob: StagedBlob;
  meta?: FileMeta;
}

export type FileOrigin = { type: 'user' | 'job' | 'device' | 'system'; id: string; via?: JsonObject };

/**
 * Makes staged blobs visible as the current version of their names on `container`: earlier
 * versions stay readable by number. Content is moved into place before the metadata commits and
 * confirmed after, so a crash never shows a row without content.
 */
export async function commitFiles(
  ctx: ServerContext,
  container: ContainersTable,
  files: StagedFile[],
  origin: FileOrigin,
  opts: { fromFailedJob?: boolean } = {},
): Promise<FilesTable[]> {
  const keys = files.map((f) => f.blob.key);
  const written: FilesTable[] = [];
  const replaced: FilesTable[] = [];
  await ctx.store.publish(keys);
  try {
    await ctx.handle.db.transaction().execute(async (trx) => {
      const stamp = now();
      // Touching the container first takes its row lock (PostgreSQL; SQLite has one writer anyway), so
      // concurrent uploads to one container number their versions one after another, not both as N+1.
      await trx.updateTable('containers').set({ modified: stamp }).where('id', '=', container.id).execute();
      for (const f of files) {
        const prev = await trx
          .selectFrom('files')
          .selectAll()
          .where('container_id', '=', container.id)
          .where('name', '=', f.name)
          .orderBy('version', 'desc')
          .limit(1)
          .executeTakeFirst();
        if (prev?.current) {
          await trx.updateTable('files').set({ current: 0, replaced: stamp }).where('id', '=', prev.id).execute();
          replaced.push(prev);
        }
        const m = f.meta ?? {};
        const row: FilesTable = {
          id: f.blob.key,
          file_id: prev?.file_id ?? newId(),
          container_type: container.type,
          container_id: container.id,
          project_id: container.project_id,
          name: f.name,
          version: (prev?.version ?? 0) + 1,
          current: 1,
          type: m.type !== undefined ? m.type : guessFileType(f.name),
          mimetype: guessMimetype(f.name),
          size: f.blob.size,
          hash: f.blob.sha384,
          modality: m.modality ?? null,
          classification: JSON.stringify(m.classification ?? {}),
          info: JSON.stringify(m.info ?? {}),
          tags: JSON.stringify(m.tags ?? []),
          origin: JSON.stringify(origin),
          zip_member_count: null,
          from_failed_job: opts.fromFailedJob ? 1 : 0,
          created: stamp,
          modified: stamp,
          replaced: null,
        };
        await trx.insertInto('files').values(row).execute();
        written.push(row);
      }
    });
  } catch (err) {
    await ctx.store.discard(keys);
    throw err;
  }
  await ctx.store.confirm(keys);
  await ctx.events.emit('filesCommitted', { container, written, replaced });
  return written;
}
