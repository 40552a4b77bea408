import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ServerContext } from '../context.js';
import { type JsonObject, parseJson } from '../dao/json.js';
import type { ContainersTable, FilesTable } from '../db/schema.js';
import type { FilesCommitted } from '../events.js';
import { now } from '../ids.js';
import { fillHierarchy, hierarchyFromHeader } from './hierarchy.js';
import { ExtractionPool, type Outcome, PoolClosedError } from './pool.js';

/**
 * Header extraction for uploaded DICOM: every committed file of type `dicom` is queued, its header is
 * parsed in a worker thread, and the result lands on the file (`info.header.dicom`, `modality`,
 * `classification`, `zip_member_count`) and, fill-if-missing, on its acquisition and session. A file
 * that cannot be read gets `info.header_error` instead. Uploads never wait for any of this.
 */
export class DicomImporter {
  private readonly pending = new Set<Promise<void>>();
  private readonly inFlight = new Set<string>();
  private closed = false;

  constructor(
    private readonly ctx: ServerContext,
    private readonly pool: ExtractionPool,
    readonly log: (msg: string) => void,
  ) {}

  /** The filesCommitted listener: queues and returns at once; its own header updates are not news to it. */
  readonly onFilesCommitted = ({ container, written, replaced, source }: FilesCommitted): void => {
    if (source === 'dicom') return;
    // A metadata edit hands back the same row: its content was read already unless it just became dicom.
    const wasDicom = new Set(replaced.filter((r) => r.type === 'dicom').map((r) => r.id));
    for (const file of written) if (file.type === 'dicom' && !wasDicom.has(file.id)) this.enqueue(container, file);
  };

  enqueue(container: ContainersTable, file: FilesTable): void {
    if (this.closed || this.inFlight.has(file.id)) return;
    this.inFlight.add(file.id);
    const job = this.process(container, file)
      .catch((err) => this.log(`dicom header of file ${file.id} ('${file.name}') not recorded: ${(err as Error).message}`))
      .finally(() => {
        this.pending.delete(job);
        this.inFlight.delete(file.id);
      });
    this.pending.add(job);
  }

  /**
   * Queues current DICOM files that have neither a header nor a header_error: uploads whose
   * extraction a shutdown or crash cut off. The text match only narrows the scan; a header always
   * serialises as `"dicom":{`, so a file it skips has one (or a user key of that name).
   */
  async resumeUnfinished(batch = 500): Promise<number> {
    const db = this.ctx.handle.db;
    let after = '';
    let queued = 0;
    while (!this.closed) {
      const rows = await db
        .selectFrom('files')
        .selectAll()
        .where('type', '=', 'dicom')
        .where('current', '=', 1)
        .where('id', '>', after)
        .where('info', 'not like', '%"header_error":%')
        .where('info', 'not like', '%"dicom":{%')
        .orderBy('id')
        .limit(batch)
        .execute();
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.id;
      const ids = [...new Set(rows.map((r) => r.container_id))];
      const containers = await db.selectFrom('containers').selectAll().where('id', 'in', ids).execute();
      const byId = new Map(containers.map((c) => [c.id, c]));
      for (const row of rows) {
        const container = byId.get(row.container_id);
        if (!container) continue;
        this.enqueue(container, row);
        queued++;
      }
    }
    return queued;
  }

  /** Resolves once every queued extraction has been recorded (tests and benchmarks await this). */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  /** Lets in-flight work finish for up to `graceMs`, then stops the workers. */
  async close(graceMs = 5000): Promise<void> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    await this.pool.close();
    await Promise.allSettled([...this.pending]);
  }

  private async process(container: ContainersTable, file: FilesTable): Promise<void> {
    const local = await this.localCopy(file.id);
    let outcome: Outcome;
    try {
      outcome = await this.pool.run(local.file);
    } catch (err) {
      if (err instanceof PoolClosedError) return;
      outcome = { ok: false, error: `header extraction failed: ${(err as Error).message}` };
    } finally {
      await local.cleanup();
    }
    const change = await this.record(file.id, outcome, container);
    // Modality and classification are file metadata like any other: gear rules see the change.
    if (change)
      await this.ctx.events.emit('filesCommitted', { container, written: [change.after], replaced: [change.before], source: 'dicom' });
  }

  /** Workers read from a path; stores without local paths get a temporary copy. */
  private async localCopy(key: string): Promise<{ file: string; cleanup(): Promise<void> }> {
    const direct = this.ctx.store.pathOf?.(key);
    if (direct) return { file: direct, cleanup: async () => {} };
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sprocket-dicom-'));
    const file = path.join(dir, 'blob');
    await pipeline(this.ctx.store.open(key), fs.createWriteStream(file));
    return { file, cleanup: () => fsp.rm(dir, { recursive: true, force: true }) };
  }

  /**
   * Stores the outcome on the file and fills the session/acquisition from the header in one
   * transaction: whoever sees the header on the file also sees the hierarchy it filled.
   */
  private async record(
    fileRowId: string,
    outcome: Outcome,
    container: ContainersTable,
  ): Promise<{ before: FilesTable; after: FilesTable } | undefined> {
    return this.ctx.handle.db.transaction().execute(async (trx) => {
      // The container's row lock first, as uploads take it (files/commit.ts): a re-upload of this
      // name racing the extraction then waits instead of deadlocking on the file row.
      await trx
        .updateTable('containers')
        .set((eb) => ({ id: eb.ref('id') }))
        .where('id', '=', container.id)
        .execute();
      const row = await trx.selectFrom('files').selectAll().where('id', '=', fileRowId).executeTakeFirst();
      if (!row) return undefined; // deleted while queued
      const info = parseJson<JsonObject>(row.info, {});
      const set: Partial<FilesTable> = { modified: now() };
      if (outcome.ok) {
        const { result } = outcome;
        const header = info.header && typeof info.header === 'object' && !Array.isArray(info.header) ? (info.header as JsonObject) : {};
        info.header = { ...header, dicom: result.header as JsonObject };
        delete info.header_error;
        if (row.modality === null && result.modality) set.modality = result.modality;
        const current = parseJson<JsonObject>(row.classification, {});
        if (Object.keys(current).length === 0 && Object.keys(result.classification).length > 0) {
          set.classification = JSON.stringify(result.classification);
        }
        if (result.zipMemberCount !== undefined) set.zip_member_count = result.zipMemberCount;
      } else {
        info.header_error = outcome.error;
      }
      set.info = JSON.stringify(info);
      await trx.updateTable('files').set(set).where('id', '=', fileRowId).execute();
      if (outcome.ok) await fillHierarchy(trx, container, hierarchyFromHeader(outcome.result.header));
      return { before: row, after: { ...row, ...set } };
    });
  }
}

/** Hooks DICOM header extraction into file commits on this server. */
export function installDicomImport(ctx: ServerContext, opts: { log?: (msg: string) => void; workers?: number } = {}): DicomImporter {
  const importer = new DicomImporter(ctx, new ExtractionPool(opts.workers, ctx.config.dicomLimits), opts.log ?? ((m) => console.warn(m)));
  ctx.events.on('filesCommitted', importer.onFilesCommitted);
  ctx.dicom = importer;
  importer.resumeUnfinished().then(
    (n) => n > 0 && importer.log(`dicom: resumed header extraction of ${n} file(s) left unfinished by the last run`),
    (err) => importer.log(`dicom: could not look for unfinished header extractions: ${(err as Error).message}`),
  );
  return importer;
}

/** The importer serving a context, if installed (for tests and benchmarks that await extraction). */
export function dicomImporterOf(ctx: ServerContext): DicomImporter | undefined {
  return ctx.dicom;
}
