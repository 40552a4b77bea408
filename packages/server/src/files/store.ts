import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ServerConfig } from '../config.js';
import { LocalFileStore } from './local.js';

/** What a completed write produced; the content is not visible under `key` until `publish`. */
export interface StagedBlob {
  key: string;
  size: number;
  /** sha-384 of the content, hex. */
  sha384: string;
}

/**
 * Where file content lives. Writes are staged, published when the metadata that names them is about
 * to commit, and confirmed after; a crash at any step leaves either a complete, referenced blob or
 * nothing (see `recover`).
 */
export interface FileStore {
  /** Streams `source` into a staging area, hashing on the way. Rejects (and cleans up) on a cut-off stream. */
  stage(key: string, source: Readable): Promise<StagedBlob>;
  /** Moves staged blobs into place. Until `confirm`, a crash makes recovery ask the database. */
  publish(keys: string[]): Promise<void>;
  /** The metadata is committed: the blobs are now permanent. */
  confirm(keys: string[]): Promise<void>;
  /** Drops staged or published-but-unconfirmed blobs whose metadata did not commit. */
  discard(keys: string[]): Promise<void>;
  open(key: string, range?: { start: number; end: number }): Readable;
  /**
   * Call before deleting the metadata of blobs: a crash after that delete then makes recovery remove
   * them instead of leaving them orphaned. `remove` finishes the job; `confirm` calls it off.
   */
  retire(keys: string[]): Promise<void>;
  remove(keys: string[]): Promise<void>;
  /** After a crash: keeps the blobs the database knows, deletes the rest of any interrupted write. */
  recover(known: (keys: string[]) => Promise<Set<string>>): Promise<{ kept: number; removed: number }>;
  /** Local path of a blob when the store has one (lets engines and archives read without copying). */
  pathOf?(key: string): string;
}

/**
 * The one place the store is chosen (SPROCKET_STORAGE, config.ts): the data directory's `files/`,
 * or an S3-compatible bucket, checked reachable before the server starts.
 */
export async function createFileStore(config: Pick<ServerConfig, 'dataDir' | 'storage'>): Promise<FileStore> {
  if (config.storage.kind === 's3') {
    // Loaded only here: a server on the local directory never loads the AWS SDK (start-up time, memory).
    const { S3FileStore } = await import('./s3.js');
    const store = S3FileStore.fromConfig(config.storage);
    await store.check();
    return store;
  }
  return new LocalFileStore(path.join(config.dataDir, 'files'));
}
