import type { Readable } from 'node:stream';

/**
 * A multipart body as the domain reads it: fields and file streams, in order. A fastify request
 * with @fastify/multipart is one as it stands; keeping the domain to this shape keeps the HTTP
 * layer out of jobs/ and files/ (and lets a test feed parts without a server).
 */
export type UploadPart =
  | { type: 'field'; fieldname: string; value: unknown }
  | { type: 'file'; fieldname: string; filename: string; file: Readable };

export interface MultipartUpload {
  isMultipart(): boolean;
  parts(): AsyncIterable<UploadPart>;
}
