import { describe, expect, it } from 'vitest';
import { parseMessageBody } from '../../functions/ingest/s3-event.ts';
import {
  type CreatedObject,
  s3EventRecord,
  s3NotificationBody,
  s3TestEventBody,
} from '../../functions/shared/s3-notification.ts';

const object: CreatedObject = {
  bucket: 'events-bucket',
  key: 'events/2026/11/a b+c/ünï.csv',
  size: 1234,
  etag: '0123456789abcdef0123456789abcdef',
  kind: 'Put',
  at: new Date('2026-11-20T10:00:00.123Z'),
};

describe('S3 notifications built for re-sending (bridge, replay)', () => {
  it('reads back through the ingest parser as the same object version', () => {
    expect(parseMessageBody(s3NotificationBody(object))).toEqual({
      kind: 'objects',
      objects: [
        {
          bucket: object.bucket,
          key: object.key,
          etag: object.etag,
          size: object.size,
          eventTime: '2026-11-20T10:00:00.123Z',
        },
      ],
    });
  });

  it('writes the record as S3 does: eventVersion 2.1, key encoded form-style, an 18-digit sequencer', () => {
    const record = s3EventRecord(object, { region: 'eu-west-1', configurationId: 'replay', sequencer: 255n });
    expect(record).toMatchObject({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'eu-west-1',
      eventName: 'ObjectCreated:Put',
      s3: {
        configurationId: 'replay',
        bucket: { name: 'events-bucket', arn: 'arn:aws:s3:::events-bucket' },
        object: {
          key: 'events/2026/11/a+b%2Bc/%C3%BCn%C3%AF.csv',
          size: 1234,
          sequencer: '0000000000000000FF',
        },
      },
    });
    expect(s3EventRecord(object).awsRegion).toBe('us-east-1');
  });

  it('builds the s3:TestEvent, which ingest acknowledges without work', () => {
    expect(parseMessageBody(s3TestEventBody('events-bucket'))).toEqual({
      kind: 'ignore',
      reason: 's3:TestEvent',
    });
  });
});
