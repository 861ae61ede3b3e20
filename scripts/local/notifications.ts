import { randomBytes, randomUUID } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { S3EventRecord } from 'aws-lambda';
import { encodeS3Key } from '../../functions/ingest/s3-event.ts';
import { topology } from '../../infra/topology.ts';
import type { ObjectCreated } from './endpoint.ts';

/** The notification the bridge delivers: which bucket, which filter, which queue. */
export interface NotificationTarget {
  bucket: string;
  queueUrl: string;
  queueArn: string;
  prefix?: string;
  suffix?: string;
  region?: string;
  configurationId?: string;
}

/**
 * S3 → SQS notifications for the embedded endpoint, in AWS's own format (eventVersion 2.1,
 * URL-encoded key, size, eTag, sequencer), filtered by the topology's prefix/suffix. Like S3, it
 * sends an `s3:TestEvent` when the notification is configured.
 */
export class NotificationBridge {
  private sequence = BigInt(Date.now()) * 1000n;
  private readonly inFlight = new Set<Promise<void>>();
  /** Called when a notification cannot be delivered after retries. */
  onError: (e: unknown, event: ObjectCreated) => void = () => {};

  constructor(
    private readonly sqs: SQSClient,
    private readonly target: NotificationTarget,
  ) {}

  /** Send the `s3:TestEvent` that S3 sends when a notification configuration is put. */
  async sendTestEvent(): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.target.queueUrl,
        MessageBody: JSON.stringify({
          Service: 'Amazon S3',
          Event: 's3:TestEvent',
          Time: new Date().toISOString(),
          Bucket: this.target.bucket,
          RequestId: randomHex(8),
          HostId: randomBytes(24).toString('base64'),
        }),
      }),
    );
  }

  /** True when S3 would notify for this object. */
  matches(e: ObjectCreated): boolean {
    const prefix = this.target.prefix ?? topology.notification.prefix;
    const suffixes = this.target.suffix ? [this.target.suffix] : topology.notification.suffixes;
    return (
      e.bucket === this.target.bucket && e.key.startsWith(prefix) && suffixes.some((s) => e.key.endsWith(s))
    );
  }

  /** Deliver the notification for one created object (retried a few times, like S3's own delivery). */
  notify(e: ObjectCreated): void {
    if (!this.matches(e)) return;
    const body = JSON.stringify({ Records: [this.record(e)] });
    const delivery = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.sqs.send(new SendMessageCommand({ QueueUrl: this.target.queueUrl, MessageBody: body }));
          return;
        } catch (err: unknown) {
          if (attempt >= 5) return this.onError(err, e);
          await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
        }
      }
    })();
    this.inFlight.add(delivery);
    void delivery.finally(() => this.inFlight.delete(delivery));
  }

  /** Wait for deliveries in progress (on shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private record(e: ObjectCreated): S3EventRecord {
    this.sequence += 1n;
    return s3EventRecord(e, {
      region: this.target.region,
      configurationId: this.target.configurationId,
      sequencer: this.sequence,
    });
  }
}

/** Options of {@link s3EventRecord}; all have S3-like defaults. */
export interface S3EventRecordOptions {
  region?: string | undefined;
  /** The notification configuration's id (S3 puts it in every record). */
  configurationId?: string | undefined;
  /** S3's per-key ordering token; any increasing number. */
  sequencer?: bigint | undefined;
}

/**
 * One S3 `ObjectCreated` notification record, exactly as S3 writes it (eventVersion 2.1, key
 * URL-encoded form-style, size, eTag, sequencer). No I/O: shared by the embedded endpoint's bridge and
 * `npm run replay`, so a replayed notification cannot differ from a live one.
 */
export function s3EventRecord(e: ObjectCreated, options: S3EventRecordOptions = {}): S3EventRecord {
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const sequencer = options.sequencer ?? BigInt(e.at.getTime()) * 1000n;
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: region,
    eventTime: e.at.toISOString(),
    eventName: `ObjectCreated:${e.kind}`,
    userIdentity: { principalId: 'AWS:LOCAL' },
    requestParameters: { sourceIPAddress: '127.0.0.1' },
    responseElements: { 'x-amz-request-id': randomHex(8), 'x-amz-id-2': randomUUID() },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: options.configurationId ?? 'ingest',
      bucket: {
        name: e.bucket,
        ownerIdentity: { principalId: 'LOCAL' },
        arn: `arn:aws:s3:::${e.bucket}`,
      },
      object: {
        key: encodeS3Key(e.key),
        size: e.size,
        eTag: e.etag,
        sequencer: sequencer.toString(16).toUpperCase().padStart(18, '0'),
      },
    },
  };
}

function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex').toUpperCase();
}
