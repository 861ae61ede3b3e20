import { randomUUID } from 'node:crypto';
import type { SQSRecord } from 'aws-lambda';
import { csvField } from '../../functions/generator/generate.ts';
import { EVENT_COLUMNS } from '../../functions/shared/event.ts';
import type { Log } from '../../functions/shared/observability.ts';

/** A valid CSV row as a column → value map; override any field. */
export function row(
  overrides: Partial<Record<(typeof EVENT_COLUMNS)[number], string>> = {},
): Record<string, string> {
  return {
    event_id: randomUUID(),
    event_type: 'view',
    user_id: 'U000001',
    session_id: 'S-1',
    product_id: 'P000001',
    product_name: 'Ergonomic Steel Chair',
    product_category: 'Home & Kitchen',
    product_price: '129.99',
    quantity: '1',
    device_type: 'mobile',
    event_timestamp: '2026-11-20T10:00:00.000Z',
    ...overrides,
  };
}

/** The fields of a row in column order. */
export function fields(r: Record<string, string>): string[] {
  return EVENT_COLUMNS.map((c) => r[c] ?? '');
}

/** A CSV document: header plus rows (raw lines are passed through as is). */
export function csv(rows: (Record<string, string> | string)[], header = EVENT_COLUMNS.join(',')): string {
  return `${[header, ...rows.map((r) => (typeof r === 'string' ? r : fields(r).map(csvField).join(',')))].join('\n')}\n`;
}

/** An SQS record carrying `body`. */
export function sqsRecord(body: string, messageId = randomUUID()): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'TEST',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:test',
    awsRegion: 'us-east-1',
  };
}

/** An S3 notification body for one object, as S3 sends it (key URL-encoded). */
export function s3Notification(bucket: string, encodedKey: string, etag?: string, size = 0): string {
  return JSON.stringify({
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: new Date().toISOString(),
        eventName: 'ObjectCreated:Put',
        s3: {
          s3SchemaVersion: '1.0',
          bucket: { name: bucket },
          object: { key: encodedKey, size, ...(etag ? { eTag: etag } : {}) },
        },
      },
    ],
  });
}

/** A logger that keeps lines for assertions (and prints nothing). */
export function recordingLogger(): Log & { lines: { level: string; message: string; attrs: unknown[] }[] } {
  const lines: { level: string; message: string; attrs: unknown[] }[] = [];
  const at =
    (level: string) =>
    (message: string, ...attrs: unknown[]) =>
      void lines.push({ level, message, attrs });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * The part of a generated event_id that the generator's seed decides: a UUIDv7 starts with its
 * event's time (48 bits, the first 13 characters with the dash), which a replay of the seeded
 * generator at another moment cannot reproduce; the rest comes from the seeded PRNG.
 */
export function seededPart(eventId: string): string {
  return eventId.slice(14);
}
