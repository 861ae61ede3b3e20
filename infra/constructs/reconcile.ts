import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { reconcileStaleSeconds, topology } from '../topology.ts';
import type { DatabaseAccess } from './database.ts';
import { PipelineFunction } from './function.ts';

/** What {@link addReconcile} wires the reconcile function to. */
export interface ReconcileProps {
  bucket: s3.IBucket;
  queue: sqs.IQueue;
  database: DatabaseAccess;
  logRemovalPolicy: RemovalPolicy;
  serviceName: string;
}

/**
 * Objects whose notification was lost (a purged queue, a notification configuration changed or
 * briefly missing, S3's rare non-delivery) are found by listing the bucket and comparing it with
 * the ledger, on a schedule; each one found is sent to the ingest queue as S3 would have.
 *
 * The function and its schedule are created directly in `scope` (not in a child construct), so
 * their logical IDs do not depend on where this wiring lives.
 */
export function addReconcile(scope: Construct, props: ReconcileProps): PipelineFunction {
  const { bucket, queue, database } = props;
  const reconcile = new PipelineFunction(scope, 'Reconcile', {
    name: 'reconcile',
    logRemovalPolicy: props.logRemovalPolicy,
    ...database.placement,
    timeout: Duration.seconds(topology.reconcile.timeoutSeconds),
    memorySize: topology.reconcile.memoryMb,
    description: 'Sends the ingest queue a notification for every object whose notification was lost',
    // A failed run is followed by the next scheduled one, which starts where the last one stopped.
    retryAttempts: 0,
    environment: {
      ...database.environment,
      BUCKET_NAME: bucket.bucketName,
      QUEUE_URL: queue.queueUrl,
      KEY_PREFIX: topology.notification.prefix,
      KEY_SUFFIXES: topology.notification.suffixes.join(','),
      RECONCILE_GRACE_SECONDS: String(topology.reconcile.graceSeconds),
      RECONCILE_STALE_SECONDS: String(reconcileStaleSeconds()),
      RECONCILE_MAX_OBJECTS: String(topology.reconcile.maxObjectsPerRun),
      RECONCILE_MAX_NOTIFICATIONS: String(topology.reconcile.maxNotificationsPerRun),
      DB_POOL_MAX: '1',
      POWERTOOLS_SERVICE_NAME: `${props.serviceName}-reconcile`,
    },
  });
  database.grantConnect(reconcile);
  // Listing only: it never reads an object's body.
  reconcile.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${topology.notification.prefix}*`] } },
    }),
  );
  queue.grantSendMessages(reconcile);
  new events.Rule(scope, 'ReconcileSchedule', {
    description: `Reconciles the bucket with the ledger every ${topology.reconcile.rateMinutes} minute(s)`,
    schedule: events.Schedule.rate(Duration.minutes(topology.reconcile.rateMinutes)),
    targets: [new eventTargets.LambdaFunction(reconcile, { retryAttempts: 0 })],
  });
  return reconcile;
}
