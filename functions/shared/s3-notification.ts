import { randomBytes, randomUUID } from 'node:crypto';
import type { S3EventRecord } from 'aws-lambda';

/**
 * S3 `ObjectCreated` notifications as S3 itself writes them. Whatever re-sends a notification for an
 * object that exists (the local runtime's S3 → SQS bridge, `npm run replay`, a reconciliation of
 * objects whose notification was lost) builds it here, so it cannot differ from a live one and the
 * ingest function's parser (`functions/ingest/s3-event.ts`) reads them all the same way.
 */

/** One created object version, as a notification names it. */
export interface CreatedObject {
  bucket: string;
  /** The real key (not URL-encoded). */
  key: string;
  size: number;
  /** Without quotes. */
  etag: string;
  /** `Put`, `Copy` or `CompleteMultipartUpload`, as in S3's `ObjectCreated:*` event names. */
  kind: 'Put' | 'Copy' | 'CompleteMultipartUpload';
  at: Date;
}

/** Options of {@link s3EventRecord}; all have S3-like defaults. */
export interface S3EventRecordOptions {
  /** The bucket's region (default `us-east-1`). */
  region?: string | undefined;
  /** The notification configuration's id (S3 puts it in every record; default `ingest`). */
  configurationId?: string | undefined;
  /** S3's per-key ordering token; any increasing number (default: from the creation time). */
  sequencer?: bigint | undefined;
}

/**
 * Encode a key as S3 does in notifications: URL-encoded form-style (`+` for a space, `%2B` for a
 * plus), slashes kept. The ingest function decodes it again before GetObject.
 */
export function encodeS3Key(key: string): string {
  return key
    .split('/')
    .map((part) => encodeURIComponent(part).replace(/%20/g, '+'))
    .join('/');
}

/**
 * One `ObjectCreated` notification record, exactly as S3 writes it (eventVersion 2.1, key
 * URL-encoded form-style, size, eTag, sequencer). No I/O.
 */
export function s3EventRecord(o: CreatedObject, options: S3EventRecordOptions = {}): S3EventRecord {
  const region = options.region ?? 'us-east-1';
  const sequencer = options.sequencer ?? BigInt(o.at.getTime()) * 1000n;
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: region,
    eventTime: o.at.toISOString(),
    eventName: `ObjectCreated:${o.kind}`,
    userIdentity: { principalId: 'AWS:LOCAL' },
    requestParameters: { sourceIPAddress: '127.0.0.1' },
    responseElements: { 'x-amz-request-id': randomHex(8), 'x-amz-id-2': randomUUID() },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: options.configurationId ?? 'ingest',
      bucket: {
        name: o.bucket,
        ownerIdentity: { principalId: 'LOCAL' },
        arn: `arn:aws:s3:::${o.bucket}`,
      },
      object: {
        key: encodeS3Key(o.key),
        size: o.size,
        eTag: o.etag,
        sequencer: sequencer.toString(16).toUpperCase().padStart(18, '0'),
      },
    },
  };
}

/** The SQS message body S3 sends for one created object: `{"Records":[…]}` with one record. */
export function s3NotificationBody(o: CreatedObject, options: S3EventRecordOptions = {}): string {
  return JSON.stringify({ Records: [s3EventRecord(o, options)] });
}

/** The `s3:TestEvent` body S3 sends to a queue when a notification configuration is put. */
export function s3TestEventBody(bucket: string, at: Date = new Date()): string {
  return JSON.stringify({
    Service: 'Amazon S3',
    Event: 's3:TestEvent',
    Time: at.toISOString(),
    Bucket: bucket,
    RequestId: randomHex(8),
    HostId: randomBytes(24).toString('base64'),
  });
}

function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex').toUpperCase();
}
