import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, ListObjectsCommand, S3Client } from '@aws-sdk/client-s3';
// @ts-expect-error s3rver ships no types; its small API is typed below.
import S3rverUntyped from 's3rver';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
const S3rver = S3rverUntyped as new (opts: Record<string, unknown>) => S3rverInstance;

/**
 * A real S3-compatible server (npm `s3rver`, filesystem-backed) in this process on a free loopback
 * port, for the tests and benchmarks that run the file store on S3: CI "starts an S3 server" by
 * running them. Credentials are s3rver's fixed pair; buckets need names of 3+ characters.
 */
export interface S3Fixture {
  endpoint: string;
  bucket: string;
  /** Where s3rver keeps the bucket's content on disk. */
  directory: string;
  client: S3Client;
  /** The server environment for a store at `s3://<bucket>/<prefix>`: SPROCKET_STORAGE plus the AWS variables. */
  env(prefix: string): Record<string, string>;
  /** Every object key under `prefix/` (not only the first page). */
  list(prefix: string): Promise<string[]>;
  close(): Promise<void>;
}

const ACCESS = 'S3RVER';

const DIR_PREFIX = 'sprocket-s3-';

/**
 * Test workers are often killed rather than left to exit, so an exit hook cannot be relied on: each
 * server's folder carries its process id, and a new one removes the folders of processes that are gone.
 */
function removeAbandoned(): void {
  for (const name of fs.readdirSync(os.tmpdir())) {
    const pid = Number(/^sprocket-s3-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
}

export async function startS3(bucket = 'sprocket-test'): Promise<S3Fixture> {
  removeAbandoned();
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS, secretAccessKey: ACCESS },
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    bucket,
    directory,
    client,
    env: (prefix) => ({
      SPROCKET_STORAGE: `s3://${bucket}/${prefix}`,
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: ACCESS,
      AWS_SECRET_ACCESS_KEY: ACCESS,
    }),
    async list(prefix) {
      const out: string[] = [];
      // ListObjects version 1 by Marker: s3rver fails truncated V2 pages (its continuation tokens need DES, gone from Node 20's OpenSSL).
      for (;;) {
        const page = await client.send(new ListObjectsCommand({ Bucket: bucket, Prefix: `${prefix}/`, Marker: out.at(-1) }));
        for (const o of page.Contents ?? []) out.push(o.Key!);
        if (!page.IsTruncated || !page.Contents?.length) return out;
      }
    },
    async close() {
      client.destroy();
      await server.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

let shared: Promise<S3Fixture> | undefined;

/**
 * One server per test process, started on first use: suites that start and restart many servers
 * share it, each store under a prefix of its own. Closed when the process exits.
 */
export function sharedS3(): Promise<S3Fixture> {
  shared ??= startS3().then((s3) => {
    process.once('exit', () => fs.rmSync(s3.directory, { recursive: true, force: true }));
    return s3;
  });
  return shared;
}
