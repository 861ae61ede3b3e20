import { describe, expect, it } from 'vitest';
import { decodeS3Key, parseMessageBody, utcEventTime } from '../../functions/ingest/s3-event.ts';
import { BadMessageError } from '../../functions/shared/errors.ts';
import { encodeS3Key } from '../../functions/shared/s3-notification.ts';
import { s3Notification } from '../helpers/factories.ts';

describe('S3 event parsing', () => {
  it('decodes URL-encoded keys (+ is a space, %2B a plus) and strips etag quotes', () => {
    const parsed = parseMessageBody(s3Notification('b', 'events/a+b%2Bc%C3%A9.csv', '"abc"', 10));
    expect(parsed).toMatchObject({
      kind: 'objects',
      objects: [{ bucket: 'b', key: 'events/a b+cé.csv', etag: 'abc', size: 10 }],
    });
  });

  it("reads moto's notification: eventTime without an offset is UTC, / encoded as %2F, no sequencer", () => {
    // Exactly what moto_server 5.2 sends to SQS for a PutObject of "events/2026/a b+c.csv".
    const moto =
      '{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-11-26T13:24:52.851865", "eventName": "ObjectCreated:Put", "s3": {"s3SchemaVersion": "1.0", "configurationId": "ingest-csv", "bucket": {"name": "bkt", "arn": "arn:aws:s3:::bkt"}, "object": {"key": "events%2F2026%2Fa+b%2Bc.csv", "size": 1, "eTag": "9dd4e461268c8034f5c8564e155c67a6"}}}]}';
    // Away from UTC, a time without an offset would be read as local time.
    const saved = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      const parsed = parseMessageBody(moto);
      expect(parsed).toMatchObject({
        kind: 'objects',
        objects: [
          { bucket: 'bkt', key: 'events/2026/a b+c.csv', etag: '9dd4e461268c8034f5c8564e155c67a6', size: 1 },
        ],
      });
      const time = parsed.kind === 'objects' ? parsed.objects[0]?.eventTime : undefined;
      expect(Date.parse(time ?? '')).toBe(Date.UTC(2026, 10, 26, 13, 24, 52, 851));
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
    // A time that says its offset keeps it.
    expect(utcEventTime('2026-11-26T13:24:52.851Z')).toBe('2026-11-26T13:24:52.851Z');
    expect(utcEventTime('2026-11-26T13:24:52+02:00')).toBe('2026-11-26T13:24:52+02:00');
  });

  it('round-trips keys through encodeS3Key/decodeS3Key', () => {
    for (const key of ['events/2026/11/a b+c.csv', 'events/ünï/日本.csv', "events/x%y&z=1'(2).csv"]) {
      expect(decodeS3Key(encodeS3Key(key))).toBe(key);
    }
    expect(encodeS3Key('events/a b.csv')).toBe('events/a+b.csv');
  });

  it('returns every ObjectCreated record of a message and ignores other events', () => {
    const body = JSON.parse(s3Notification('b', 'events/1.csv', 'e1'));
    const second = structuredClone(body.Records[0]);
    second.s3.object.key = 'events/2.csv';
    const removed = structuredClone(body.Records[0]);
    removed.eventName = 'ObjectRemoved:Delete';
    body.Records.push(second, removed);
    const parsed = parseMessageBody(JSON.stringify(body));
    expect(parsed.kind === 'objects' && parsed.objects.map((o) => o.key)).toEqual([
      'events/1.csv',
      'events/2.csv',
    ]);
  });

  it('acknowledges s3:TestEvent, empty bodies and non-create-only messages', () => {
    expect(
      parseMessageBody(JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'b' })),
    ).toEqual({
      kind: 'ignore',
      reason: 's3:TestEvent',
    });
    expect(parseMessageBody('  ')).toMatchObject({ kind: 'ignore' });
  });

  it('unwraps SNS envelopes and reads EventBridge S3 events', () => {
    const sns = JSON.stringify({ Type: 'Notification', Message: s3Notification('b', 'events/x+y.csv', 'e') });
    expect(parseMessageBody(sns)).toMatchObject({ kind: 'objects', objects: [{ key: 'events/x y.csv' }] });
    const eb = JSON.stringify({
      source: 'aws.s3',
      'detail-type': 'Object Created',
      time: '2026-11-21T00:00:00Z',
      detail: { bucket: { name: 'b' }, object: { key: 'events/x y.csv', size: 3, etag: 'e' } },
    });
    expect(parseMessageBody(eb)).toMatchObject({
      kind: 'objects',
      objects: [{ key: 'events/x y.csv', etag: 'e', size: 3 }],
    });
  });

  it('throws BadMessageError for non-JSON and for JSON that is not an S3 event', () => {
    expect(() => parseMessageBody('hello')).toThrow(BadMessageError);
    expect(() => parseMessageBody('{"foo":1}')).toThrow(BadMessageError);
    expect(() => parseMessageBody(s3Notification('b', 'events/%E0%A4%A.csv'))).toThrow(BadMessageError);
  });
});
