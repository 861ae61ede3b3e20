import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import type * as sqs from 'aws-cdk-lib/aws-sqs';

/** Which objects notify the queue, and how the configuration reaches the bucket. */
export interface QueueNotificationProps {
  /** Key prefix every notifying object is under. */
  prefix: string;
  /** Key endings that notify; S3 allows one suffix per filter, so each is its own configuration. */
  suffixes: readonly string[];
  /**
   * `custom-resource` (AWS): CDK's notification custom resource, which merges with notifications
   * configured outside the stack. `bucket-property` (LocalStack, where that custom resource is
   * unreliable): the configuration is a property of the bucket itself.
   */
  delivery: 'custom-resource' | 'bucket-property';
}

/**
 * `ObjectCreated:*` notifications from the bucket to the queue, one queue configuration per suffix,
 * each filtered by the same prefix.
 */
export function addQueueNotifications(
  bucket: s3.Bucket,
  queue: sqs.Queue,
  props: QueueNotificationProps,
): void {
  const { prefix, suffixes } = props;
  if (props.delivery === 'custom-resource') {
    const destination = new s3n.SqsDestination(queue);
    for (const suffix of suffixes) {
      bucket.addEventNotification(s3.EventType.OBJECT_CREATED, destination, { prefix, suffix });
    }
    return;
  }
  // S3 checks that it may send to the queue when the configuration is written, so the bucket is
  // created after this policy. The condition names the account, not the bucket ARN: the bucket
  // depends on this policy, so referencing the bucket here would be a cycle.
  const { policyDependable } = queue.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowS3Notifications',
      principals: [new iam.ServicePrincipal('s3.amazonaws.com')],
      actions: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
      resources: [queue.queueArn],
      conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
    }),
  );
  const cfnBucket = bucket.node.defaultChild as s3.CfnBucket;
  cfnBucket.notificationConfiguration = {
    queueConfigurations: suffixes.map((suffix) => ({
      event: 's3:ObjectCreated:*',
      queue: queue.queueArn,
      filter: {
        s3Key: {
          rules: [
            { name: 'prefix', value: prefix },
            { name: 'suffix', value: suffix },
          ],
        },
      },
    })),
  };
  if (policyDependable) cfnBucket.node.addDependency(policyDependable);
}
