import { pipeline, Readable } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { BadObjectError, TransientError } from '../shared/errors.ts';
import type { ObjectRef } from './s3-event.ts';

/** An object version: the etag is known. */
export type VersionedRef = ObjectRef & { etag: string };

/** How an object's bytes are compressed; undefined for plain text. */
export type Encoding = 'gzip' | 'zstd';

/** An open object: its content from the requested offset on, and a way to stop reading early. */
export interface ObjectBody {
  /** The object's content (decompressed), from the requested offset on. */
  chunks: AsyncIterable<Uint8Array>;
  encoding: Encoding | undefined;
  /** Release the connection when the body is not read to its end. */
  close(): void;
}

const GZIP = [0x1f, 0x8b];
const ZSTD = [0x28, 0xb5, 0x2f, 0xfd];
const PIECE = 64 * 1024;

/** The compression of bytes starting with `head`, by its magic number. */
export function detectEncoding(head: Uint8Array | undefined): Encoding | undefined {
  if (!head) return undefined;
  if (GZIP.every((b, i) => head[i] === b)) return 'gzip';
  if (ZSTD.every((b, i) => head[i] === b)) return 'zstd';
  return undefined;
}

/**
 * Open an object version with its content from byte `offset` on: a GET pinned to the etag
 * (`If-Match`). Plain text resumes with a ranged GET. A gzip or zstd object (known by its magic
 * number, or from the ledger when resuming) is streamed through decompression; it cannot be read
 * from the middle, so a resume reads it from the start and skips `offset` decompressed bytes.
 * Throws {@link BadObjectError} `object_missing` when the version is gone (deleted, overwritten, or
 * not there yet) and {@link TransientError} for any other S3 failure.
 */
export async function openObject(
  s3: S3Client,
  ref: VersionedRef,
  offset: number,
  known?: Encoding,
): Promise<ObjectBody> {
  const ranged = offset > 0 && !known;
  let out: GetObjectCommandOutput;
  try {
    out = await s3.send(
      new GetObjectCommand({
        Bucket: ref.bucket,
        Key: ref.key,
        IfMatch: `"${ref.etag}"`,
        ...(ranged ? { Range: `bytes=${offset}-` } : {}),
      }),
    );
  } catch (e: unknown) {
    if (ranged && httpStatus(e) === 416) return emptyBody(); // nothing left past the checkpoint
    if (isGone(e)) throw objectMissing(ref, e);
    throw new TransientError(`GetObject s3://${ref.bucket}/${ref.key} failed: ${errorText(e)}`, { cause: e });
  }
  const body = out.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
  if (!body) return emptyBody();
  const close = () => body.destroy?.();
  const source = body[Symbol.asyncIterator]();
  const first = await source.next();
  const encoding = ranged ? undefined : (known ?? detectEncoding(first.done ? undefined : first.value));
  const raw = (async function* () {
    if (!first.done) yield first.value;
    for (let next = await source.next(); !next.done; next = await source.next()) yield next.value;
  })();
  if (!encoding) return { chunks: raw, encoding, close };
  const decompress =
    encoding === 'gzip' ? createGunzip({ chunkSize: PIECE }) : createZstdDecompress({ chunkSize: PIECE });
  // pipeline passes a read error of the source on to the decompressor (and so to its reader).
  const decoded = pipeline(Readable.from(raw), decompress, () => {});
  return { chunks: skipping(decompressionErrors(decoded, ref), offset), encoding, close };
}

function emptyBody(): ObjectBody {
  return { chunks: (async function* () {})(), encoding: undefined, close: () => {} };
}

/** Drop the first `n` bytes of a stream of chunks. */
async function* skipping(chunks: AsyncIterable<Uint8Array>, n: number): AsyncGenerator<Uint8Array> {
  let left = n;
  for await (const chunk of chunks) {
    if (left >= chunk.length) {
      left -= chunk.length;
      continue;
    }
    yield left > 0 ? chunk.subarray(left) : chunk;
    left = 0;
  }
}

/** Bytes the decompressor refuses are a permanent fault of the object; anything else stays as it is. */
async function* decompressionErrors(chunks: AsyncIterable<Uint8Array>, ref: VersionedRef) {
  try {
    yield* chunks;
  } catch (e: unknown) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(Z_|ZSTD|ERR_ZLIB)/.test(code))
      throw new BadObjectError(
        'invalid_compression',
        `s3://${ref.bucket}/${ref.key} is not a complete gzip or zstd stream (${errorText(e)}); upload it again`,
        { cause: e },
      );
    throw e;
  }
}

/**
 * The etag of a ref. Notifications carry it; hand-made events may not, and then the current
 * version is looked up. `undefined` when there is no such object.
 */
export async function withEtag(s3: S3Client, ref: ObjectRef): Promise<VersionedRef | undefined> {
  if (ref.etag) return ref as VersionedRef;
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
    return { ...ref, etag: (head.ETag ?? '').replace(/"/g, ''), size: head.ContentLength ?? ref.size };
  } catch (e: unknown) {
    if (isGone(e)) return undefined;
    throw new TransientError(`HeadObject s3://${ref.bucket}/${ref.key} failed: ${errorText(e)}`, {
      cause: e,
    });
  }
}

/** The version is not there: deleted, overwritten (etag no longer matches) or not uploaded yet. */
export function objectMissing(ref: ObjectRef, cause?: unknown): BadObjectError {
  return new BadObjectError(
    'object_missing',
    `s3://${ref.bucket}/${ref.key}${ref.etag ? ` (etag ${ref.etag})` : ''} is not in the bucket: deleted, overwritten or not uploaded yet. A later notification, replay or reconciliation ingests it once it exists`,
    { cause },
  );
}

function httpStatus(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function isGone(e: unknown): boolean {
  const name = (e as { name?: string } | undefined)?.name;
  const status = httpStatus(e);
  return (
    name === 'NoSuchKey' ||
    name === 'NotFound' ||
    name === 'PreconditionFailed' ||
    status === 404 ||
    status === 412
  );
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
