/**
 * The operator tools behind `npm run replay` and `npm run redrive`, as functions of their clients so
 * tests run them against the embedded endpoint. Both are safe to run twice and to interrupt: every
 * message they send is an S3 notification (or a message that already was one), and the ingest
 * function's ledger turns a repeated notification into a no-op.
 */
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { s3NotificationBody } from '../../functions/shared/s3-notification.ts';
import { matchesNotificationFilter } from '../../infra/topology.ts';

/** Where the tools talk to: `--aws` (the SDK's defaults), `AWS_ENDPOINT_URL`, or a running `npm start`. */
export function toolClients(options: { aws?: boolean; env?: NodeJS.ProcessEnv } = {}): {
  s3: S3Client;
  sqs: SQSClient;
  endpoint: string | undefined;
  region: string;
} {
  const env = options.env ?? process.env;
  const endpoint = options.aws ? undefined : (env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:4566');
  const region = env.AWS_REGION ?? 'us-east-1';
  // Emulators accept any credentials; on AWS the SDK's own chain supplies them.
  const local = endpoint
    ? {
        endpoint,
        credentials: {
          accessKeyId: env.AWS_ACCESS_KEY_ID ?? 'test',
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? 'test',
        },
      }
    : {};
  return {
    s3: new S3Client({ region, ...local, ...(endpoint ? { forcePathStyle: true } : {}) }),
    sqs: new SQSClient({ region, ...local }),
    endpoint,
    region,
  };
}

/** A queue URL as given, or looked up by name (CDK adds suffixes on AWS: pass the stack's output URL). */
export async function resolveQueueUrl(sqs: SQSClient, nameOrUrl: string): Promise<string> {
  if (/^https?:\/\//.test(nameOrUrl)) return nameOrUrl;
  const out = await sqs.send(new GetQueueUrlCommand({ QueueName: nameOrUrl }));
  if (!out.QueueUrl) throw new Error(`Queue ${nameOrUrl} not found`);
  return out.QueueUrl;
}

/** What {@link replayNotifications} did. */
export interface ReplaySummary {
  /** Objects listed under the prefix. */
  listed: number;
  /** Notifications sent (one per object that passes the notification filter). */
  sent: number;
  /** Objects S3 would never have notified for (outside `events/…`, not `.csv`): left alone. */
  filtered: number;
}

/**
 * Re-emit S3 `ObjectCreated` notifications for the objects already under `prefix`, one message per
 * object as S3 sends them, each naming the object's current etag. Objects the ingest function has
 * already handled are skipped by its ledger, so a replay only fills gaps (lost notifications, a purged
 * queue) and running it twice changes nothing in the database.
 */
export async function replayNotifications(
  deps: { s3: S3Client; sqs: SQSClient },
  options: {
    bucket: string;
    prefix: string;
    queueUrl: string;
    region?: string;
    log?: (line: string) => void;
  },
): Promise<ReplaySummary> {
  const summary: ReplaySummary = { listed: 0, sent: 0, filtered: 0 };
  let token: string | undefined;
  do {
    const page = await deps.s3.send(
      new ListObjectsV2Command({ Bucket: options.bucket, Prefix: options.prefix, ContinuationToken: token }),
    );
    const entries: SendMessageBatchRequestEntry[] = [];
    for (const o of page.Contents ?? []) {
      if (!o.Key) continue;
      summary.listed++;
      if (!matchesNotificationFilter(o.Key)) {
        summary.filtered++;
        continue;
      }
      const body = s3NotificationBody(
        {
          bucket: options.bucket,
          key: o.Key,
          size: o.Size ?? 0,
          etag: (o.ETag ?? '').replace(/"/g, ''),
          kind: 'Put',
          at: o.LastModified ?? new Date(),
        },
        { region: options.region, configurationId: 'replay' },
      );
      entries.push({ Id: String(entries.length), MessageBody: body });
    }
    for (let i = 0; i < entries.length; i += 10) {
      summary.sent += await sendAll(deps.sqs, options.queueUrl, entries.slice(i, i + 10));
    }
    options.log?.(`listed ${summary.listed}, sent ${summary.sent}`);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return summary;
}

/** Send a batch, retrying entries SQS reports as failed; throws when some still fail. */
async function sendAll(sqs: SQSClient, queueUrl: string, entries: SendMessageBatchRequestEntry[]) {
  let pending = entries;
  for (let attempt = 1; pending.length > 0; attempt++) {
    const out = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
    const failed = new Set((out.Failed ?? []).map((f) => f.Id));
    if (failed.size > 0 && attempt >= 5) {
      const first = out.Failed?.[0];
      throw new Error(`SendMessageBatch failed for ${failed.size} entries: ${first?.Code} ${first?.Message}`);
    }
    pending = pending.filter((e) => failed.has(e.Id));
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 200 * attempt));
  }
  return entries.length;
}

/** What {@link redriveMessages} did. */
export interface RedriveSummary {
  /** Messages sent to the target queue and deleted from the DLQ. */
  moved: number;
  /** The most it would move: `max`, else the DLQ's depth when it started. */
  limit: number;
}

/**
 * Move messages from the DLQ back to the queue: receive → send → delete, in batches of 10. SQS's
 * StartMessageMoveTask does this on AWS, but the embedded endpoint (fauxqs) lacks it, so this works
 * everywhere. Interrupted between send and delete, a message reappears in the DLQ and is sent again
 * by the next run: a duplicate notification, which the ledger makes harmless. It moves at most the
 * DLQ's depth at start (or `max`), so a message that fails again and returns to the DLQ while this
 * runs is not moved in a loop.
 */
export async function redriveMessages(
  sqs: SQSClient,
  options: {
    from: string;
    to: string;
    max?: number;
    /** How long a received message stays hidden in the DLQ before an interrupted move is retried. */
    visibilityTimeoutSeconds?: number;
    log?: (line: string) => void;
  },
): Promise<RedriveSummary> {
  const attrs = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: options.from,
      AttributeNames: ['ApproximateNumberOfMessages'],
    }),
  );
  const limit = options.max ?? Number(attrs.Attributes?.ApproximateNumberOfMessages ?? 0);
  let moved = 0;
  while (moved < limit) {
    const got = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: options.from,
        MaxNumberOfMessages: Math.min(10, limit - moved),
        // Long polling asks every SQS server, so an empty answer means the DLQ is really empty.
        WaitTimeSeconds: 1,
        VisibilityTimeout: options.visibilityTimeoutSeconds ?? 60,
        MessageAttributeNames: ['All'],
      }),
    );
    const messages = got.Messages ?? [];
    if (messages.length === 0) break;
    const entries = messages.map((m, i) => ({
      Id: String(i),
      MessageBody: m.Body ?? '',
      ...(m.MessageAttributes && Object.keys(m.MessageAttributes).length > 0
        ? { MessageAttributes: copyAttributes(m.MessageAttributes) }
        : {}),
    }));
    await sendAll(sqs, options.to, entries);
    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: options.from,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
      }),
    );
    // A failed delete leaves the message in the DLQ: moved again by the next run, harmlessly.
    moved += deleted.Successful?.length ?? 0;
    options.log?.(`moved ${moved}/${limit}`);
  }
  return { moved, limit };
}

function copyAttributes(a: Record<string, MessageAttributeValue>): Record<string, MessageAttributeValue> {
  const out: Record<string, MessageAttributeValue> = {};
  for (const [name, v] of Object.entries(a)) {
    out[name] = {
      DataType: v.DataType,
      ...(v.StringValue !== undefined ? { StringValue: v.StringValue } : {}),
      ...(v.BinaryValue !== undefined ? { BinaryValue: v.BinaryValue } : {}),
    };
  }
  return out;
}
