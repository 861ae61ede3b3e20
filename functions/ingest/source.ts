import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BadObjectError, TransientError } from '../shared/errors.ts';
import type { ObjectRef } from './s3-event.ts';

/** An object version: the etag is known. */
export type VersionedRef = ObjectRef & { etag: string };

/** An open object: its bytes from the requested offset on, and a way to stop reading early. */
export interface ObjectBody {
  chunks: AsyncIterable<Uint8Array>;
  /** Release the connection when the body is not read to its end. */
  close(): void;
}

const EMPTY_BODY: ObjectBody = {
  chunks: (async function* () {})(),
  close: () => {},
};

/**
 * Open an object version from byte `offset` on: a GET pinned to the etag (`If-Match`), ranged when
 * resuming. Throws {@link BadObjectError} `object_missing` when the version is gone (deleted,
 * overwritten, or not there yet) and {@link TransientError} for any other S3 failure.
 */
export async function openObject(s3: S3Client, ref: VersionedRef, offset: number): Promise<ObjectBody> {
  try {
    const out = await s3.send(
      new GetObjectCommand({
        Bucket: ref.bucket,
        Key: ref.key,
        IfMatch: `"${ref.etag}"`,
        ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}),
      }),
    );
    const body = out.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
    if (!body) return EMPTY_BODY;
    return { chunks: body, close: () => body.destroy?.() };
  } catch (e: unknown) {
    if (offset > 0 && httpStatus(e) === 416) return EMPTY_BODY; // nothing left past the checkpoint
    if (isGone(e)) throw objectMissing(ref, e);
    throw new TransientError(`GetObject s3://${ref.bucket}/${ref.key} failed: ${errorText(e)}`, { cause: e });
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
