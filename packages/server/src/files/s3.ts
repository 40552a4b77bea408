import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  type ListMultipartUploadsCommandOutput,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3StorageConfig } from '../config.js';
import { StreamHash } from './hashing.js';
import type { FileStore, StagedBlob } from './store.js';

/**
 * File store on an S3-compatible bucket (SPROCKET_STORAGE=s3://bucket/prefix). Layout under the
 * prefix: `blobs/<key>` for content and `pending/<key>` markers for blobs whose metadata is being
 * written or deleted — the local store's `.pending` files, as objects.
 *
 * S3 has no rename, so there is no staging area to move out of: `stage` writes the marker first and
 * then streams the content straight to its final key. That is safe because a key is a fresh random id
 * that nothing names until the metadata commits, and because S3 shows a multipart object only once
 * CompleteMultipartUpload succeeds: a cut-off stream leaves no object (the multipart is aborted), and
 * a crash at any later step leaves a complete object with its marker, which `recover` deletes unless
 * the database knows the key. `publish` therefore has nothing to move; `confirm` deletes the markers.
 * Copying from a staging prefix instead would read and write every byte twice (and need multipart
 * copies past 5 GB) for no extra guarantee.
 *
 * Content streams through lib-storage's Upload in parts (at most QUEUE × PART_SIZE bytes buffered per
 * upload), hashed on the way by the same StreamHash as the local store; downloads are GetObject with a
 * Range, streamed. Nothing is held whole in memory or copied to a temporary file.
 */

const PART_SIZE = 8 << 20;
const QUEUE = 2;
/** DeleteObjects and ListObjectsV2 take at most this many keys per request. */
const PAGE = 1000;
const EMPTY = new Uint8Array(0);

export function s3Client(cfg: S3StorageConfig): S3Client {
  return new S3Client({
    region: cfg.region,
    ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
    forcePathStyle: cfg.forcePathStyle,
    ...(cfg.credentials ? { credentials: cfg.credentials } : {}),
    // Our own sha-384 is the integrity check; the SDK's default CRC32 trailers are not understood by every
    // S3-compatible server.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export class S3FileStore implements FileStore {
  private readonly base: string;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    prefix: string,
    /** For messages: the endpoint (AWS_ENDPOINT_URL…) or region the client talks to. */
    private readonly where = 'AWS',
  ) {
    this.base = prefix ? `${prefix}/` : '';
  }

  static fromConfig(cfg: S3StorageConfig): S3FileStore {
    return new S3FileStore(s3Client(cfg), cfg.bucket, cfg.prefix, cfg.endpoint ?? `AWS region ${cfg.region}`);
  }

  /** Start-up check: the bucket is there and these credentials reach it, said in terms of the configuration. */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const e = err as Error & { $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      const why = status === 404 ? 'it does not exist' : status === 403 ? 'access is denied' : `${e.name}: ${e.message}`;
      throw new Error(`SPROCKET_STORAGE names bucket '${this.bucket}' at ${this.where}, which cannot be used (${why})`);
    }
  }

  private blob(key: string): string {
    return `${this.base}blobs/${key}`;
  }

  private marker(key: string): string {
    return `${this.base}pending/${key}`;
  }

  private async mark(keys: string[]): Promise<void> {
    for (const key of keys) await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.marker(key), Body: EMPTY }));
  }

  private async deleteAll(objects: string[]): Promise<void> {
    for (let i = 0; i < objects.length; i += PAGE) {
      const batch = objects.slice(i, i + PAGE);
      if (batch.length === 1) {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: batch[0] }));
        continue;
      }
      const res = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
      );
      const failed = res.Errors?.filter((e) => e.Code !== 'NoSuchKey') ?? [];
      if (failed.length) throw new Error(`could not delete ${failed[0]!.Key} from bucket ${this.bucket}: ${failed[0]!.Message}`);
    }
  }

  async stage(key: string, source: Readable): Promise<StagedBlob> {
    // The marker goes first: content that completes just before a crash is then found and judged by recover.
    await this.mark([key]);
    const hash = new StreamHash('sha384');
    let size = 0;
    let sourceError: unknown;
    const body = Readable.from(
      (async function* () {
        try {
          for await (const chunk of source as AsyncIterable<Buffer>) {
            size += chunk.length;
            const full = hash.update(chunk);
            if (full) await full;
            yield chunk;
          }
        } catch (err) {
          sourceError = err;
          throw err;
        }
        // Checked before the body ends, so the last part (and CompleteMultipartUpload) is never sent.
        if ((source as Readable & { truncated?: boolean }).truncated) {
          sourceError = new Error('upload was truncated');
          throw sourceError;
        }
      })(),
      { objectMode: false, highWaterMark: 1 << 20 },
    );
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.blob(key), Body: body, ContentType: 'application/octet-stream' },
      partSize: PART_SIZE,
      queueSize: QUEUE,
    });
    let sha384: string;
    try {
      await upload.done();
      sha384 = await hash.digest();
    } catch (err) {
      hash.abort();
      source.destroy();
      // A single-part upload that failed before its PUT, or an aborted multipart, left no object; the
      // delete covers a failure after completion (the digest), and the marker goes last.
      await this.deleteAll([this.blob(key), this.marker(key)]).catch(() => {});
      throw sourceError ?? err;
    }
    return { key, size, sha384 };
  }

  async publish(_keys: string[]): Promise<void> {
    // Content is already at its final key and each marker was written before its content (see stage).
  }

  async confirm(keys: string[]): Promise<void> {
    await this.deleteAll(keys.map((k) => this.marker(k)));
  }

  async discard(keys: string[]): Promise<void> {
    await this.deleteAll(keys.map((k) => this.blob(k)));
    await this.deleteAll(keys.map((k) => this.marker(k)));
  }

  open(key: string, range?: { start: number; end: number }): Readable {
    const { client, bucket } = this;
    const Key = this.blob(key);
    return Readable.from(
      (async function* () {
        const res = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
        );
        const body = res.Body as Readable;
        // Returning early (a client hanging up) ends these loops, which destroys the response and frees its socket.
        if (!range) {
          yield* body;
          return;
        }
        // Some S3-compatible servers answer a one-byte range at offset 0 with the whole object (s3rver does):
        // what was sent is checked against what was asked, and cut to it.
        if (res.ContentRange && !res.ContentRange.startsWith(`bytes ${range.start}-`)) {
          body.destroy();
          throw new Error(`object ${Key} answered range ${range.start}-${range.end} with ${res.ContentRange}`);
        }
        let left = range.end - range.start + 1;
        for await (const chunk of body as AsyncIterable<Buffer>) {
          yield chunk.length <= left ? chunk : chunk.subarray(0, left);
          left -= Math.min(left, chunk.length);
          if (left === 0) return;
        }
        if (left > 0) throw new Error(`object ${Key} ended ${left} bytes short of range ${range.start}-${range.end}`);
      })(),
      { objectMode: false, highWaterMark: 1 << 20 },
    );
  }

  async retire(keys: string[]): Promise<void> {
    await this.mark(keys);
  }

  async remove(keys: string[]): Promise<void> {
    await this.deleteAll(keys.map((k) => this.blob(k)));
    await this.deleteAll(keys.map((k) => this.marker(k)));
  }

  async recover(known: (keys: string[]) => Promise<Set<string>>): Promise<{ kept: number; removed: number }> {
    const startedAt = new Date();
    let kept = 0;
    let removed = 0;
    const markers = `${this.base}pending/`;
    // ListObjects (version 1) paged by Marker, the last key seen: every S3-compatible server has it, where
    // s3rver fails any truncated ListObjectsV2 page (its continuation tokens need DES, gone from Node 20's OpenSSL).
    let after: string | undefined;
    for (;;) {
      const page = await this.client.send(new ListObjectsCommand({ Bucket: this.bucket, Prefix: markers, Marker: after, MaxKeys: PAGE }));
      const contents = page.Contents ?? [];
      if (!contents.length) break;
      after = contents[contents.length - 1]!.Key;
      const keys = contents.map((o) => o.Key!.slice(markers.length)).filter((k) => k && !k.includes('/'));
      if (!keys.length) continue;
      // One database question per page keeps the bound parameters under every database's limit.
      const present = await known(keys);
      const gone = keys.filter((k) => !present.has(k));
      kept += keys.length - gone.length;
      removed += gone.length;
      await this.deleteAll(gone.map((k) => this.blob(k)));
      await this.deleteAll(keys.map((k) => this.marker(k)));
      if (!page.IsTruncated) break;
    }
    removed += await this.abortStaleUploads(startedAt);
    return { kept, removed };
  }

  /**
   * Multipart uploads a crash cut off keep their parts (and their cost) until aborted. Only those begun
   * before this recovery are touched; this server starts none until it has recovered.
   */
  private async abortStaleUploads(before: Date): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let page: ListMultipartUploadsCommandOutput;
      try {
        page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: `${this.base}blobs/`,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        );
      } catch (err) {
        // Some S3-compatible servers (s3rver among them) do not list uploads; their parts are never visible
        // as objects, and a bucket lifecycle rule (AbortIncompleteMultipartUpload) is the backstop there.
        if ((err as Error).name === 'NotImplemented') return aborted;
        throw err;
      }
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId || (u.Initiated && u.Initiated >= before)) continue;
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }));
        aborted++;
      }
      if (!page.IsTruncated) return aborted;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }
}
