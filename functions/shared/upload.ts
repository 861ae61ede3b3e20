import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

/**
 * Bytes per part of a multipart upload, and the size above which an object is uploaded in parts.
 * Below S3's 5 GiB single-PUT limit by far, above its 5 MiB minimum part, and under the 11 MiB a
 * request may carry on the embedded endpoint: one size that works against all three.
 */
export const MULTIPART_PART_BYTES = 8 * 1024 * 1024;

/** What {@link putObject} writes. */
export interface PutObjectInput {
  bucket: string;
  key: string;
  /** The content, or a stream of it, read part by part so a large object never sits in memory whole. */
  body: Uint8Array | string | Readable;
  contentType?: string;
  /** gzip or zstd for a compressed object (ingest finds out from the bytes anyway). */
  contentEncoding?: string;
}

/**
 * Write an object of any size: one PutObject up to {@link MULTIPART_PART_BYTES}, a multipart upload
 * above it (parts sent two at a time, the upload aborted if a part fails). Returns the object's ETag
 * without quotes.
 */
export async function putObject(s3: S3Client, input: PutObjectInput): Promise<string> {
  const upload = new Upload({
    client: s3,
    params: {
      Bucket: input.bucket,
      Key: input.key,
      Body: input.body,
      ...(input.contentType ? { ContentType: input.contentType } : {}),
      ...(input.contentEncoding ? { ContentEncoding: input.contentEncoding } : {}),
    },
    partSize: MULTIPART_PART_BYTES,
    queueSize: 2,
    leavePartsOnError: false,
  });
  const out = await upload.done();
  return (out.ETag ?? '').replace(/"/g, '');
}
