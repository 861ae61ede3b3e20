import { Aws, CfnOutput, Duration, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as triggers from 'aws-cdk-lib/triggers';
import type { Construct } from 'constructs';
import { deploySettings, type PipelineConfig, removalPolicyOf } from './config.ts';
import { acceptLintFindings } from './constructs/cfn-lint.ts';
import { Database, type DatabaseAccess, ExternalDatabase } from './constructs/database.ts';
import { PipelineFunction } from './constructs/function.ts';
import { addMonitoring } from './constructs/monitoring.ts';
import { acknowledgeFindings } from './constructs/nag.ts';
import { addQueueNotifications } from './constructs/notifications.ts';
import { addReconcile } from './constructs/reconcile.ts';
import { topology, visibilityTimeoutSeconds } from './topology.ts';

/** Props of {@link PipelineStack}. */
export interface PipelineStackProps extends StackProps {
  /**
   * Deploy-time choices. `databaseUrl` swaps the RDS database for an external one; `localstack`
   * only changes how the bucket's notification configuration is delivered.
   */
  config: PipelineConfig;
}

/**
 * The pipeline: bucket → ObjectCreated notification → queue (+ DLQ) → ingest function → PostgreSQL,
 * a scheduled generator writing CSV objects, a deploy-time migration trigger, alarms and a dashboard.
 * Every value that also exists in the local runtime comes from `infra/topology.ts`; the pieces are
 * built in `infra/constructs/`.
 */
export class PipelineStack extends Stack {
  readonly bucket: s3.Bucket;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly database: DatabaseAccess;
  readonly generator: PipelineFunction;
  readonly ingest: PipelineFunction;
  readonly migrate: PipelineFunction;
  readonly reconcile: PipelineFunction;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, {
      description: 'E-commerce events pipeline: generator -> S3 -> SQS -> ingest -> PostgreSQL',
      ...props,
    });
    const { config } = props;
    const removal = removalPolicyOf(config);
    const service = topology.observability.serviceName;
    Tags.of(this).add('project', service);

    // ---- storage and messaging -------------------------------------------------------------------
    this.bucket = new s3.Bucket(this, 'EventsBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      removalPolicy: removal,
      // A destroyable bucket must be emptied first, or CloudFormation cannot delete it.
      autoDeleteObjects: config.removal === 'destroy',
      lifecycleRules: [
        {
          id: 'abort-incomplete-multipart-uploads',
          abortIncompleteMultipartUploadAfter: Duration.days(
            deploySettings.bucket.abortIncompleteUploadAfterDays,
          ),
        },
        {
          id: 'expire-archived-objects',
          prefix: topology.archive.prefix,
          expiration: Duration.days(deploySettings.bucket.archiveExpirationDays),
        },
      ],
    });

    this.deadLetterQueue = new sqs.Queue(this, 'IngestDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.seconds(topology.queue.dlqRetentionSeconds),
    });
    this.queue = new sqs.Queue(this, 'IngestQueue', {
      // SQS-managed keys: S3 can deliver notifications without a KMS key policy, at no extra cost.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(visibilityTimeoutSeconds()),
      retentionPeriod: Duration.seconds(topology.queue.retentionSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: topology.queue.maxReceiveCount },
    });
    addQueueNotifications(this.bucket, this.queue, {
      ...topology.notification,
      delivery: config.localstack ? 'bucket-property' : 'custom-resource',
    });

    // ---- database --------------------------------------------------------------------------------
    const database = config.databaseUrl
      ? new ExternalDatabase(config.databaseUrl)
      : new Database(this, 'Database', config);
    this.database = database;

    // ---- functions -------------------------------------------------------------------------------
    this.generator = new PipelineFunction(this, 'Generator', {
      name: 'generator',
      logRemovalPolicy: removal,
      timeout: Duration.seconds(topology.generator.timeoutSeconds),
      memorySize: topology.generator.memoryMb,
      description: 'Writes CSV objects of fake e-commerce events to the events bucket',
      // A failed tick is replaced by the next one; async retries would only bunch objects up.
      retryAttempts: 0,
      environment: {
        BUCKET_NAME: this.bucket.bucketName,
        KEY_PREFIX: topology.notification.prefix,
        EVENTS_PER_OBJECT: String(topology.generator.eventsPerObject),
        BAD_RATE: String(topology.generator.badRate),
        DUPLICATE_RATE: String(topology.generator.duplicateRate),
        POWERTOOLS_SERVICE_NAME: `${service}-generator`,
      },
    });
    // PutObject only, and only under the notification prefix (grantPut would add s3:Abort* etc.).
    this.generator.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects(`${topology.notification.prefix}*`)],
      }),
    );

    this.migrate = new PipelineFunction(this, 'Migrate', {
      name: 'migrate',
      logRemovalPolicy: removal,
      ...database.placement,
      timeout: Duration.seconds(deploySettings.migrate.timeoutSeconds),
      memorySize: deploySettings.migrate.memoryMb,
      description: 'Applies the numbered sql/ migrations; run once per deploy by a CDK trigger',
      environment: {
        ...database.environment,
        POWERTOOLS_SERVICE_NAME: `${service}-migrate`,
        DB_POOL_MAX: '1',
      },
      // The migrations travel inside the bundle, next to index.mjs, so the function and the local
      // `npm run migrate` apply the very same files.
      afterBundling: (inputDir, outputDir) => [
        `mkdir -p "${outputDir}/sql"`,
        `cp "${inputDir}/sql/"*.sql "${outputDir}/sql/"`,
      ],
    });
    database.grantConnect(this.migrate);

    this.ingest = new PipelineFunction(this, 'Ingest', {
      name: 'ingest',
      logRemovalPolicy: removal,
      ...database.placement,
      timeout: Duration.seconds(topology.ingest.timeoutSeconds),
      memorySize: topology.ingest.memoryMb,
      description: 'Loads the CSV objects named by S3 notifications into PostgreSQL',
      environment: {
        ...database.environment,
        BUCKETS: this.bucket.bucketName,
        DLQ_URL: this.deadLetterQueue.queueUrl,
        QUEUE_URL: this.queue.queueUrl,
        INGEST_CHUNK_ROWS: String(topology.ingest.chunkRows),
        MAX_REJECT_RATIO: String(config.maxRejectRatio),
        AFTER_INGEST: config.afterIngest,
        ARCHIVE_PREFIX: topology.archive.prefix,
        DB_POOL_MAX: String(deploySettings.ingestPoolMax),
        POWERTOOLS_SERVICE_NAME: `${service}-ingest`,
      },
    });
    database.grantConnect(this.ingest);
    // GetObject under the prefix, plus ListBucket so a deleted object reads as NoSuchKey (a
    // permanent, per-object failure) instead of AccessDenied (which would be retried).
    this.ingest.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects(`${topology.notification.prefix}*`)],
      }),
    );
    this.ingest.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }),
    );
    // After ingest: delete the object, or copy it under the archive prefix and delete it.
    if (config.afterIngest !== 'keep')
      this.ingest.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:DeleteObject'],
          resources: [this.bucket.arnForObjects(`${topology.notification.prefix}*`)],
        }),
      );
    if (config.afterIngest === 'archive')
      this.ingest.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:PutObject'],
          resources: [this.bucket.arnForObjects(`${topology.archive.prefix}*`)],
        }),
      );
    this.deadLetterQueue.grantSendMessages(this.ingest);
    // An object stopped before the deadline goes on in a new invocation: ingest sends its
    // notification back to its own queue, then acknowledges the message it received.
    this.queue.grantSendMessages(this.ingest);
    this.ingest.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: topology.ingest.batchSize,
        maxBatchingWindow: Duration.seconds(topology.ingest.batchingWindowSeconds),
        reportBatchItemFailures: true,
        maxConcurrency: topology.ingest.maxConcurrency,
      }),
    );

    this.reconcile = addReconcile(this, {
      bucket: this.bucket,
      queue: this.queue,
      database,
      logRemovalPolicy: removal,
      serviceName: service,
    });

    // The schema exists before the first message is ingested: the trigger runs the migrate function
    // once the database is reachable, and the ingest function (with its event source mapping, a
    // child construct) is created only after the trigger succeeded; so is the reconcile function,
    // which reads tables of its own. A failed migration fails the deploy.
    const migration = new triggers.Trigger(this, 'MigrateTrigger', {
      handler: this.migrate,
      timeout: Duration.seconds(deploySettings.migrate.timeoutSeconds + 30),
      executeOnHandlerChange: true,
      executeAfter: database.readyAfter,
    });
    migration.executeBefore(this.ingest, this.reconcile);

    // ---- schedule --------------------------------------------------------------------------------
    // An EventBridge rule rather than EventBridge Scheduler: LocalStack fires rule targets, not
    // Scheduler targets, and a rule is all a fixed rate needs.
    new events.Rule(this, 'GeneratorSchedule', {
      description: `Invokes the generator every ${topology.generator.rateMinutes} minute(s)`,
      schedule: events.Schedule.rate(Duration.minutes(topology.generator.rateMinutes)),
      enabled: config.schedule,
      targets: [new eventTargets.LambdaFunction(this.generator, { retryAttempts: 0 })],
    });

    // ---- observability ---------------------------------------------------------------------------
    const { dashboard, alarmTopic } = addMonitoring(this, {
      queue: this.queue,
      deadLetterQueue: this.deadLetterQueue,
      generator: this.generator,
      ingest: this.ingest,
      reconcile: this.reconcile,
      dashboardName: `${this.stackName}-pipeline`,
      alarmEmail: config.alarmEmail,
    });

    this.dashboard = dashboard;

    // ---- outputs ---------------------------------------------------------------------------------
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName, description: 'Events bucket' });
    new CfnOutput(this, 'QueueUrl', { value: this.queue.queueUrl, description: 'Ingest queue' });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      value: this.deadLetterQueue.queueUrl,
      description: 'Ingest DLQ',
    });
    new CfnOutput(this, 'GeneratorFunctionName', { value: this.generator.functionName });
    new CfnOutput(this, 'IngestFunctionName', { value: this.ingest.functionName });
    new CfnOutput(this, 'ReconcileFunctionName', { value: this.reconcile.functionName });
    new CfnOutput(this, 'DashboardUrl', {
      value: `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${dashboard.dashboardName}`,
    });
    for (const [outputId, output] of Object.entries(database.outputs)) new CfnOutput(this, outputId, output);

    // ---- accepted findings of cdk-nag and cfn-lint ------------------------------------------------
    const rds = database instanceof Database ? database : undefined;
    acknowledgeFindings({
      stack: this,
      config,
      bucket: this.bucket,
      deadLetterQueue: this.deadLetterQueue,
      generator: this.generator,
      ingest: this.ingest,
      database: rds,
      alarmTopic,
    });
    acceptLintFindings({ stack: this, dashboard, database: rds });
  }
}
