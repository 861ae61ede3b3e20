import { randomUUID } from 'node:crypto';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Log } from '../shared/observability.ts';
import { putObject } from '../shared/upload.ts';
import { type Compression, type createGenerator, type GeneratedBatch, objectKey } from './generate.ts';

/** Dependencies of {@link publishBatch}. */
export interface PublishDeps {
  s3: S3Client;
  logger: Log;
  clock: () => number;
}

/** Where and how much to write. */
export interface PublishTarget {
  bucket: string;
  prefix: string;
  events: number;
  /** Compress the object (its key then ends `.csv.gz` or `.csv.zst`). */
  compress?: Compression;
}

/** A written object and its manifest. */
export interface Published extends GeneratedBatch {
  bucket: string;
  key: string;
  bytes: number;
}

/** A CSV document as the bytes of an object, compressed or not. */
export function encode(csv: string, compress: Compression | undefined): Buffer {
  const bytes = Buffer.from(csv, 'utf8');
  if (compress === 'gzip') return gzipSync(bytes);
  if (compress === 'zstd') return zstdCompressSync(bytes);
  return bytes;
}

/** Generate one CSV object and write it under the date-partitioned prefix (in parts when large). */
export async function publishBatch(
  deps: PublishDeps,
  generator: ReturnType<typeof createGenerator>,
  target: PublishTarget,
): Promise<Published> {
  const batch = generator.batch(target.events);
  const key = objectKey(target.prefix, new Date(deps.clock()), randomUUID().slice(0, 8), target.compress);
  const body = encode(batch.csv, target.compress);
  // In parts above the multipart threshold: a large object is one request per part, not one huge PUT.
  await putObject(deps.s3, {
    bucket: target.bucket,
    key,
    body,
    contentType: 'text/csv; charset=utf-8',
    ...(target.compress ? { contentEncoding: target.compress } : {}),
  });
  deps.logger.info('object written', {
    bucket: target.bucket,
    key,
    events: batch.events,
    bytes: body.length,
  });
  return { ...batch, bucket: target.bucket, key, bytes: body.length };
}
