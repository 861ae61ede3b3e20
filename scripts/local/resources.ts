import {
  CreateBucketCommand,
  HeadBucketCommand,
  PutBucketNotificationConfigurationCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { topology, visibilityTimeoutSeconds } from '../../infra/topology.ts';

/** Names and addresses of the local bucket and queues. */
export interface LocalResources {
  bucket: string;
  queueUrl: string;
  queueArn: string;
  dlqUrl: string;
  dlqArn: string;
}

/** Overrides, mainly for tests that want their own names or faster redelivery. */
export interface ResourceOptions {
  bucket?: string;
  queue?: string;
  dlq?: string;
  visibilityTimeoutSeconds?: number;
  maxReceiveCount?: number;
}

/**
 * Create the bucket, the queue and its DLQ (with the redrive policy) from the topology. Idempotent:
 * CreateQueue with the same attributes returns the existing queue, an existing bucket is kept.
 */
export async function ensureResources(
  s3: S3Client,
  sqs: SQSClient,
  options: ResourceOptions = {},
): Promise<LocalResources> {
  const bucket = options.bucket ?? topology.names.bucket;
  const dlq = await sqs.send(
    new CreateQueueCommand({
      QueueName: options.dlq ?? topology.names.dlq,
      Attributes: { MessageRetentionPeriod: String(topology.queue.dlqRetentionSeconds) },
    }),
  );
  const dlqUrl = dlq.QueueUrl as string;
  const dlqArn = await queueArn(sqs, dlqUrl);
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: options.queue ?? topology.names.queue,
      Attributes: {
        VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? visibilityTimeoutSeconds()),
        MessageRetentionPeriod: String(topology.queue.retentionSeconds),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqArn,
          maxReceiveCount: options.maxReceiveCount ?? topology.queue.maxReceiveCount,
        }),
      },
    }),
  );
  const queueUrl = queue.QueueUrl as string;
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }
  return { bucket, queueUrl, queueArn: await queueArn(sqs, queueUrl), dlqUrl, dlqArn };
}

async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  return out.Attributes?.QueueArn as string;
}

/**
 * On an endpoint with real S3 notifications (LocalStack), configure the bucket → queue notification
 * with the topology's filter, exactly as the CDK stack does on AWS.
 */
export async function configureBucketNotification(s3: S3Client, res: LocalResources): Promise<void> {
  await s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: res.bucket,
      NotificationConfiguration: {
        // S3 takes one suffix per filter: one configuration per suffix.
        QueueConfigurations: topology.notification.suffixes.map((suffix) => ({
          Id: `ingest${suffix.replaceAll('.', '-')}`,
          QueueArn: res.queueArn,
          Events: ['s3:ObjectCreated:*'],
          Filter: {
            Key: {
              FilterRules: [
                { Name: 'prefix', Value: topology.notification.prefix },
                { Name: 'suffix', Value: suffix },
              ],
            },
          },
        })),
      },
    }),
  );
}
