import { z } from 'zod';
import { BadMessageError } from '../shared/errors.ts';

/** One object version named by a notification. */
export interface ObjectRef {
  bucket: string;
  /** The decoded key, ready for GetObject. */
  key: string;
  /** Without quotes. Absent only in hand-made events; then the current version is read. */
  etag?: string;
  size?: number;
  /** When S3 says the object was created (ISO-8601), for latency. */
  eventTime?: string;
}

/** What one SQS message body asks us to do. */
export type ParsedMessage =
  | { kind: 'objects'; objects: ObjectRef[] }
  /** Nothing to ingest, acknowledge: `s3:TestEvent`, an empty body, a non-create event. */
  | { kind: 'ignore'; reason: string };

const s3Record = z.object({
  eventSource: z.string().optional(),
  eventName: z.string(),
  eventTime: z.string().optional(),
  s3: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      key: z.string().min(1),
      size: z.number().optional(),
      eTag: z.string().optional(),
    }),
  }),
});

const s3Notification = z.object({ Records: z.array(s3Record) });
const testEvent = z.object({ Event: z.literal('s3:TestEvent') });
const snsEnvelope = z.object({ Type: z.literal('Notification'), Message: z.string() });
const eventBridgeEvent = z.object({
  source: z.literal('aws.s3'),
  'detail-type': z.string(),
  time: z.string().optional(),
  detail: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({ key: z.string().min(1), size: z.number().optional(), etag: z.string().optional() }),
  }),
});

/**
 * Decode a key from an S3 notification: S3 URL-encodes keys form-style (`+` for a space,
 * `%2B` for a plus), and GetObject needs the real key.
 */
export function decodeS3Key(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch (e: unknown) {
    throw new BadMessageError(`Object key "${key}" is not valid URL encoding`, { cause: e });
  }
}

const stripQuotes = (etag: string | undefined) => etag?.replace(/^"|"$/g, '');

/**
 * An event time as an instant. S3 writes UTC with a `Z`; other implementations (moto) leave the
 * offset out, and a time without one would be read as local time (by `Date.parse`, and by
 * PostgreSQL in the session's time zone): it is UTC all the same.
 */
export function utcEventTime(time: string | undefined): string | undefined {
  return time !== undefined && /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(time) ? `${time}Z` : time;
}

/**
 * Parse an SQS message body into the objects it announces. Accepts S3 notifications (one or more
 * Records), the same wrapped in an SNS envelope (S3 → SNS → SQS fan-out), and S3 events delivered
 * by EventBridge. Throws {@link BadMessageError} for anything else: that message will never work.
 */
export function parseMessageBody(body: string): ParsedMessage {
  if (body.trim() === '') return { kind: 'ignore', reason: 'empty body' };
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (e: unknown) {
    throw new BadMessageError(`Message body is not JSON: ${preview(body)}`, { cause: e });
  }
  return parseJson(json, body);
}

function parseJson(json: unknown, body: string): ParsedMessage {
  if (testEvent.safeParse(json).success) return { kind: 'ignore', reason: 's3:TestEvent' };

  const sns = snsEnvelope.safeParse(json);
  if (sns.success) return parseMessageBody(sns.data.Message);

  const notification = s3Notification.safeParse(json);
  if (notification.success) {
    const objects = notification.data.Records.filter((r) =>
      r.eventName.replace(/^s3:/, '').startsWith('ObjectCreated:'),
    ).map(
      (r): ObjectRef => ({
        bucket: r.s3.bucket.name,
        key: decodeS3Key(r.s3.object.key),
        etag: stripQuotes(r.s3.object.eTag),
        size: r.s3.object.size,
        eventTime: utcEventTime(r.eventTime),
      }),
    );
    if (objects.length === 0) return { kind: 'ignore', reason: 'no ObjectCreated records' };
    return { kind: 'objects', objects };
  }

  const eb = eventBridgeEvent.safeParse(json);
  if (eb.success) {
    if (eb.data['detail-type'] !== 'Object Created')
      return { kind: 'ignore', reason: eb.data['detail-type'] };
    const { bucket, object } = eb.data.detail;
    // EventBridge carries the key as is, not URL-encoded like S3 notifications.
    return {
      kind: 'objects',
      objects: [
        {
          bucket: bucket.name,
          key: object.key,
          etag: stripQuotes(object.etag),
          size: object.size,
          eventTime: utcEventTime(eb.data.time),
        },
      ],
    };
  }
  throw new BadMessageError(`Message is JSON but not an S3 event: ${preview(body)}`);
}

/** The first bytes of a body, for logs and DLQ reasons; never the whole (it may be huge). */
export function preview(body: string, max = 200): string {
  return body.length <= max ? body : `${body.slice(0, max)}… (${body.length} chars)`;
}
