import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { s3NotificationBody, s3TestEventBody } from '../../functions/shared/s3-notification.ts';
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
        MessageBody: s3TestEventBody(this.target.bucket),
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
    this.sequence += 1n;
    const body = s3NotificationBody(e, {
      region: this.target.region,
      configurationId: this.target.configurationId,
      sequencer: this.sequence,
    });
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
}
