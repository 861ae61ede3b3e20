import { type CfnElement, type Stack, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { PipelineConfig } from '../config.ts';
import { topology } from '../topology.ts';
import type { Database } from './database.ts';

/** The constructs whose cdk-nag findings the pipeline accepts. */
export interface AcknowledgedParts {
  stack: Stack;
  config: PipelineConfig;
  bucket: s3.Bucket;
  deadLetterQueue: sqs.Queue;
  generator: lambda.Function;
  ingest: lambda.Function;
  /** Present in the default mode only. */
  database?: Database | undefined;
  /** Present with `-c alarmEmail=…` only. */
  alarmTopic?: sns.Topic | undefined;
}

/** Acknowledge one cdk-nag finding on a construct (and its children), with the reason. */
function acknowledge(scope: Construct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** The finding id of a policy granting access to every object under the events prefix of `bucket`. */
function eventObjectsFinding(stack: Stack, bucket: s3.Bucket): string {
  const bucketId = stack.getLogicalId(bucket.node.defaultChild as CfnElement);
  return `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${topology.notification.prefix}*]`;
}

/**
 * Every cdk-nag (AWS Solutions) finding the pipeline accepts, each on the construct it concerns and
 * with the reason it is acceptable. Anything not acknowledged here fails the synth.
 */
export function acknowledgeFindings(p: AcknowledgedParts): void {
  acknowledge(
    p.bucket,
    'AwsSolutions-S1',
    'Server access logs are not kept: objects are written only by the generator role and every object is recorded in the ingested_objects ledger; enable CloudTrail S3 data events if an access audit is needed.',
  );
  acknowledge(p.deadLetterQueue, 'AwsSolutions-SQS3', 'This queue is itself the dead-letter queue.');
  acknowledge(
    p.generator,
    eventObjectsFinding(p.stack, p.bucket),
    'Object keys are generated at run time; the wildcard is limited to the events/ prefix of this one bucket and to s3:PutObject.',
  );
  acknowledge(
    p.ingest,
    eventObjectsFinding(p.stack, p.bucket),
    'Object keys arrive in notifications at run time; the wildcard is limited to the events/ prefix of this one bucket and to s3:GetObject (and s3:DeleteObject when ingest deletes or archives what it ingested).',
  );
  const bucketId = p.stack.getLogicalId(p.bucket.node.defaultChild as CfnElement);
  acknowledge(
    p.ingest,
    `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${topology.archive.prefix}*]`,
    'With afterIngest=archive, ingested objects are copied under the archive/ prefix of this one bucket, keeping their keys (known at run time); the wildcard is limited to that prefix and to s3:PutObject.',
  );
  acknowledge(
    p.stack,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    'AWSLambdaBasicExecutionRole only allows writing the function’s own logs; it is AWS’s standard minimal Lambda policy.',
  );
  acknowledge(
    p.stack,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
    'AWSLambdaVPCAccessExecutionRole only manages the ENIs a VPC function needs; it is the policy AWS documents for VPC functions.',
  );
  // CDK's singleton that sets the retention of the RDS log group (its name is only known once the
  // instance exists), found by its fixed id prefix.
  for (const child of p.stack.node.children) {
    if (!child.node.id.startsWith('LogRetention')) continue;
    acknowledge(
      child,
      'AwsSolutions-IAM5[Resource::*]',
      'CDK LogRetention helper: it sets retention on log groups created by other services, whose ARNs are not known at synth time.',
    );
  }
  if (p.alarmTopic) {
    acknowledge(
      p.alarmTopic,
      'AwsSolutions-SNS2',
      'CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key; the topic carries alarm names only, not data.',
    );
  }
  if (p.database) acknowledgeDatabase(p.database, p.config);
}

function acknowledgeDatabase(database: Database, config: PipelineConfig): void {
  acknowledge(
    database.masterSecret,
    'AwsSolutions-SMG4',
    'Rotation is not configured: the RDS Proxy and functions read the secret at connect time, so rotation can be added with instance.addRotationSingleUser() once a rotation Lambda is acceptable in this VPC.',
  );
  acknowledge(
    database.instance,
    'AwsSolutions-RDS11',
    'The default port is kept: the instance is in isolated subnets and its security group admits only the RDS Proxy, so a non-standard port adds no protection.',
  );
  if (!config.dbMultiAz) {
    acknowledge(
      database.instance,
      'AwsSolutions-RDS3',
      'Single-AZ by default to halve the cost of a demo pipeline; deploy with -c dbMultiAz=true for production.',
    );
  }
  if (config.removal === 'destroy') {
    acknowledge(
      database.instance,
      'AwsSolutions-RDS10',
      'Deletion protection is off only when the stack is deployed with -c removalPolicy=destroy, i.e. a disposable environment.',
    );
  }
}
