import { describe, expect, it } from 'vitest';
import { decodeS3Key, parseMessageBody } from '../../functions/ingest/s3-event.ts';
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
