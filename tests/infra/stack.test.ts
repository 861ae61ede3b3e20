import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploySettings } from '../../infra/config.ts';
import { reconcileStaleSeconds, topology, visibilityTimeoutSeconds } from '../../infra/topology.ts';
import {
  type CfnResourceJson,
  functionEnv,
  functionId,
  onlyResource,
  type Synthesized,
  synthPipeline,
} from './synth.ts';

/** Template assertions only: skip CDK's built-in CloudFormation validation (see SynthOptions). */
const FAST = { cfnValidation: false } as const;

/** Default mode: RDS PostgreSQL behind an RDS Proxy in an isolated VPC. Bundling skipped. */
describe('pipeline stack, default (AWS) mode', { timeout: 60_000 }, () => {
  let synth: Synthesized;
  let template: Template;
  beforeAll(() => {
    synth = synthPipeline({}, FAST);
    template = synth.template;
  }, 60_000);
  afterAll(() => synth?.dispose());

  const queueIds = () => {
    const dlq = onlyResource(template, 'AWS::SQS::Queue', {
      MessageRetentionPeriod: topology.queue.dlqRetentionSeconds,
    }).id;
    const main = onlyResource(template, 'AWS::SQS::Queue', { RedrivePolicy: Match.anyValue() }).id;
    return { main, dlq };
  };

  describe('bucket', () => {
    it('blocks public access, is encrypted and is retained by default', () => {
      const { resource } = onlyResource(template, 'AWS::S3::Bucket');
      expect(resource.Properties).toMatchObject({
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
      });
      expect(resource.DeletionPolicy).toBe('Retain');
    });

    it('denies requests without TLS', () => {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    });

    it('notifies the queue of ObjectCreated under the topology prefix, one configuration per suffix', () => {
      const { main } = queueIds();
      const { resource } = onlyResource(template, 'Custom::S3BucketNotifications');
      const config = resource.Properties?.NotificationConfiguration as {
        QueueConfigurations: {
          Events: string[];
          QueueArn: unknown;
          Filter: { Key: { FilterRules: unknown[] } };
        }[];
      };
      // S3 takes one suffix per filter: .csv, .csv.gz and .csv.zst are three configurations.
      expect(config.QueueConfigurations).toHaveLength(topology.notification.suffixes.length);
      expect(topology.notification.suffixes).toEqual(['.csv', '.csv.gz', '.csv.zst']);
      for (const [i, suffix] of topology.notification.suffixes.entries()) {
        const one = config.QueueConfigurations[i];
        expect(one?.Events).toEqual(['s3:ObjectCreated:*']);
        expect(one?.QueueArn).toEqual({ 'Fn::GetAtt': [main, 'Arn'] });
        expect(one?.Filter.Key.FilterRules).toHaveLength(2);
        expect(one?.Filter.Key.FilterRules).toEqual(
          expect.arrayContaining([
            { Name: 'prefix', Value: topology.notification.prefix },
            { Name: 'suffix', Value: suffix },
          ]),
        );
      }
    });

    it('aborts incomplete multipart uploads after a day and expires archived objects', () => {
      const { resource } = onlyResource(template, 'AWS::S3::Bucket');
      const lifecycle = resource.Properties?.LifecycleConfiguration as
        | { Rules: Record<string, unknown>[] }
        | undefined;
      const rules = lifecycle?.Rules;
      expect(rules).toHaveLength(2);
      expect(rules).toEqual(
        expect.arrayContaining([
          {
            Id: 'abort-incomplete-multipart-uploads',
            Status: 'Enabled',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          },
          {
            Id: 'expire-archived-objects',
            Status: 'Enabled',
            Prefix: topology.archive.prefix,
            ExpirationInDays: deploySettings.bucket.archiveExpirationDays,
          },
        ]),
      );
      // The archive lies outside the notification prefix: archiving never notifies again.
      expect(topology.archive.prefix.startsWith(topology.notification.prefix)).toBe(false);
    });
  });

  describe('queues', () => {
    it('has an ingest queue and a DLQ, both encrypted', () => {
      template.resourceCountIs('AWS::SQS::Queue', 2);
      for (const q of Object.values(template.findResources('AWS::SQS::Queue')) as CfnResourceJson[]) {
        expect(q.Properties?.SqsManagedSseEnabled).toBe(true);
      }
    });

    it('redrives to the DLQ after maxReceiveCount, with the topology visibility timeout', () => {
      const { main, dlq } = queueIds();
      const queue = template.toJSON().Resources[main] as CfnResourceJson;
      expect(queue.Properties).toMatchObject({
        VisibilityTimeout: visibilityTimeoutSeconds(),
        MessageRetentionPeriod: topology.queue.retentionSeconds,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] },
          maxReceiveCount: topology.queue.maxReceiveCount,
        },
      });
      // AWS's rule for SQS event sources: at least 6 × the function timeout plus the batching window.
      expect(queue.Properties?.VisibilityTimeout).toBeGreaterThanOrEqual(
        6 * topology.ingest.timeoutSeconds + topology.ingest.batchingWindowSeconds,
      );
    });

    it('denies non-TLS access to both queues', () => {
      const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy')) as CfnResourceJson[];
      const denying = policies.filter((p) =>
        JSON.stringify(p.Properties).includes('"aws:SecureTransport":"false"'),
      );
      expect(denying).toHaveLength(2);
    });
  });

  describe('functions', () => {
    it.each(['generator', 'ingest', 'migrate', 'reconcile'] as const)(
      '%s runs Node.js 24 on arm64 with its own log group',
      (name) => {
        const fn = template.toJSON().Resources[functionId(template, name)] as CfnResourceJson;
        expect(fn.Properties).toMatchObject({
          Runtime: 'nodejs24.x',
          Architectures: ['arm64'],
          LoggingConfig: { LogGroup: { Ref: expect.any(String) } },
        });
        const logGroupId = String(
          (fn.Properties?.LoggingConfig as { LogGroup?: { Ref?: string } } | undefined)?.LogGroup?.Ref,
        );
        const logGroup = template.toJSON().Resources[logGroupId] as CfnResourceJson;
        expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
        expect(logGroup.Properties?.RetentionInDays).toBe(deploySettings.logRetentionDays);
        expect(functionEnv(template, name)).toMatchObject({
          POWERTOOLS_SERVICE_NAME: `${topology.observability.serviceName}-${name}`,
          POWERTOOLS_METRICS_NAMESPACE: topology.observability.metricsNamespace,
          NODE_OPTIONS: '--enable-source-maps',
        });
      },
    );

    it('generator gets the bucket and the generation settings, outside any VPC', () => {
      expect(functionEnv(template, 'generator')).toMatchObject({
        BUCKET_NAME: { Ref: onlyResource(template, 'AWS::S3::Bucket').id },
        KEY_PREFIX: topology.notification.prefix,
        EVENTS_PER_OBJECT: String(topology.generator.eventsPerObject),
        BAD_RATE: String(topology.generator.badRate),
        DUPLICATE_RATE: String(topology.generator.duplicateRate),
      });
      const fn = template.toJSON().Resources[functionId(template, 'generator')] as CfnResourceJson;
      expect(fn.Properties?.VpcConfig).toBeUndefined();
      expect(fn.Properties?.Timeout).toBe(topology.generator.timeoutSeconds);
      expect(fn.Properties?.MemorySize).toBe(topology.generator.memoryMb);
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: functionId(template, 'generator') },
        MaximumRetryAttempts: 0,
      });
    });

    it('ingest reads the secret through the proxy, inside the VPC, and knows the DLQ', () => {
      const proxy = onlyResource(template, 'AWS::RDS::DBProxy').id;
      const env = functionEnv(template, 'ingest');
      expect(env).toMatchObject({
        DB_SECRET_ARN: { Ref: expect.any(String) },
        DB_HOST: { 'Fn::GetAtt': [proxy, 'Endpoint'] },
        DB_NAME: deploySettings.databaseName,
        BUCKETS: { Ref: onlyResource(template, 'AWS::S3::Bucket').id },
        DLQ_URL: { Ref: queueIds().dlq },
        QUEUE_URL: { Ref: queueIds().main },
        INGEST_CHUNK_ROWS: String(topology.ingest.chunkRows),
        MAX_REJECT_RATIO: String(topology.ingest.maxRejectRatio),
        DB_POOL_MAX: String(deploySettings.ingestPoolMax),
      });
      expect(env.DATABASE_URL).toBeUndefined();
      const fn = template.toJSON().Resources[functionId(template, 'ingest')] as CfnResourceJson;
      expect(fn.Properties).toMatchObject({
        Timeout: topology.ingest.timeoutSeconds,
        MemorySize: topology.ingest.memoryMb,
        VpcConfig: { SubnetIds: expect.any(Array), SecurityGroupIds: expect.any(Array) },
      });
    });

    it('ingest may read objects, send to the DLQ and read the DB secret', () => {
      const policy = JSON.stringify(
        template.toJSON().Resources[
          (
            (template.toJSON().Resources[functionId(template, 'ingest')] as CfnResourceJson).DependsOn ?? []
          ).find((d) => d.startsWith('IngestServiceRoleDefaultPolicy')) as string
        ],
      );
      for (const action of [
        's3:GetObject',
        'sqs:SendMessage',
        'secretsmanager:GetSecretValue',
        'sqs:ReceiveMessage',
      ]) {
        expect(policy).toContain(action);
      }
    });

    it('ingest may send to its own queue, to continue an object in a new invocation', () => {
      const { main } = queueIds();
      const policies = template.findResources('AWS::IAM::Policy');
      const ingestPolicy = Object.entries(policies).find(([id]) =>
        id.startsWith('IngestServiceRoleDefaultPolicy'),
      );
      if (!ingestPolicy) throw new Error('no default policy for the ingest role');
      const statements = (ingestPolicy[1].Properties as { PolicyDocument: { Statement: unknown[] } })
        .PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[];
      const sends = statements.filter((st) => [st.Action].flat().includes('sqs:SendMessage'));
      expect(sends.flatMap((st) => [st.Resource].flat().map((r) => JSON.stringify(r)))).toContain(
        JSON.stringify({ 'Fn::GetAtt': [main, 'Arn'] }),
      );
    });
  });

  describe('reconciliation', () => {
    const policyOf = (name: 'reconcile') => {
      const deps =
        (template.toJSON().Resources[functionId(template, name)] as CfnResourceJson).DependsOn ?? [];
      const id = deps.find((d) => d.startsWith('ReconcileServiceRoleDefaultPolicy')) as string;
      return (template.toJSON().Resources[id] as CfnResourceJson).Properties as {
        PolicyDocument: {
          Statement: { Action: string | string[]; Resource: unknown; Condition?: unknown }[];
        };
      };
    };

    it('the reconcile function knows the bucket, its filter, the queue and its bounds, inside the VPC', () => {
      const ingest = functionEnv(template, 'ingest');
      expect(functionEnv(template, 'reconcile')).toMatchObject({
        BUCKET_NAME: { Ref: onlyResource(template, 'AWS::S3::Bucket').id },
        QUEUE_URL: { Ref: queueIds().main },
        KEY_PREFIX: topology.notification.prefix,
        KEY_SUFFIXES: topology.notification.suffixes.join(','),
        RECONCILE_GRACE_SECONDS: String(topology.reconcile.graceSeconds),
        RECONCILE_STALE_SECONDS: String(reconcileStaleSeconds()),
        RECONCILE_MAX_OBJECTS: String(topology.reconcile.maxObjectsPerRun),
        RECONCILE_MAX_NOTIFICATIONS: String(topology.reconcile.maxNotificationsPerRun),
        DB_SECRET_ARN: ingest.DB_SECRET_ARN,
        DB_HOST: ingest.DB_HOST,
        DB_NAME: ingest.DB_NAME,
      });
      // Stale means twice the visibility timeout: no message about the object can still be pending.
      expect(reconcileStaleSeconds()).toBe(2 * visibilityTimeoutSeconds());
      const fn = template.toJSON().Resources[functionId(template, 'reconcile')] as CfnResourceJson;
      expect(fn.Properties).toMatchObject({
        Timeout: topology.reconcile.timeoutSeconds,
        MemorySize: topology.reconcile.memoryMb,
        VpcConfig: { SubnetIds: expect.any(Array), SecurityGroupIds: expect.any(Array) },
      });
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: functionId(template, 'reconcile') },
        MaximumRetryAttempts: 0,
      });
    });

    it('may list the bucket under the prefix (never read objects) and send to the ingest queue only', () => {
      const statements = policyOf('reconcile').PolicyDocument.Statement;
      const actions = statements.flatMap((st) => [st.Action].flat());
      expect(actions).toContain('s3:ListBucket');
      expect(actions).toContain('sqs:SendMessage');
      expect(actions).toContain('secretsmanager:GetSecretValue');
      expect(actions.filter((a) => a.startsWith('s3:') && a !== 's3:ListBucket')).toEqual([]);
      const list = statements.find((st) => [st.Action].flat().includes('s3:ListBucket'));
      expect(list?.Condition).toEqual({ StringLike: { 's3:prefix': [`${topology.notification.prefix}*`] } });
      const sends = statements.filter((st) => [st.Action].flat().includes('sqs:SendMessage'));
      expect(sends.flatMap((st) => [st.Resource].flat().map((r) => JSON.stringify(r)))).toEqual([
        JSON.stringify({ 'Fn::GetAtt': [queueIds().main, 'Arn'] }),
      ]);
    });

    it('runs from an enabled EventBridge rule at the topology rate, after the migration', () => {
      const rate: number = topology.reconcile.rateMinutes;
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: `rate(${rate} ${rate === 1 ? 'minute' : 'minutes'})`,
        State: 'ENABLED',
        Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId(template, 'reconcile'), 'Arn'] } })],
      });
      const trigger = onlyResource(template, 'Custom::Trigger').id;
      const fn = template.toJSON().Resources[functionId(template, 'reconcile')] as CfnResourceJson;
      expect(fn.DependsOn).toContain(trigger);
    });

    it('alarms as soon as one object was reconciled, and when a run fails', () => {
      const alarms = template.findResources('AWS::CloudWatch::Alarm') as Record<string, CfnResourceJson>;
      const alarm = (id: string) =>
        Object.entries(alarms).find(([logicalId]) => logicalId.startsWith(id))?.[1].Properties;
      expect(alarm('ObjectsReconciledAlarm')).toMatchObject({
        MetricName: 'objectsReconciled',
        Namespace: topology.observability.metricsNamespace,
        Dimensions: [{ Name: 'service', Value: `${topology.observability.serviceName}-reconcile` }],
        Statistic: 'Sum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
      expect(alarm('ReconcileErrorsAlarm')).toMatchObject({
        MetricName: 'Errors',
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(template, 'reconcile') } }],
        Threshold: 1,
      });
    });
  });

  describe('schedule', () => {
    it('invokes the generator from an enabled EventBridge rule at the topology rate', () => {
      const rate = topology.generator.rateMinutes;
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: `rate(${rate} ${rate === 1 ? 'minute' : 'minutes'})`,
        State: 'ENABLED',
        Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId(template, 'generator'), 'Arn'] } })],
      });
    });
  });

  describe('event source mapping', () => {
    it('feeds ingest from the queue with the topology batching and partial batch responses', () => {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [queueIds().main, 'Arn'] },
        FunctionName: { Ref: functionId(template, 'ingest') },
        BatchSize: topology.ingest.batchSize,
        MaximumBatchingWindowInSeconds: topology.ingest.batchingWindowSeconds,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: topology.ingest.maxConcurrency },
      });
    });
  });

  describe('schema migration on deploy', () => {
    it('a trigger runs the migrate function after the database and before ingest exists', () => {
      const trigger = onlyResource(template, 'Custom::Trigger');
      expect(trigger.resource.Properties).toMatchObject({
        HandlerArn: { Ref: expect.stringMatching(/^MigrateCurrentVersion/) },
        InvocationType: 'RequestResponse',
      });
      const after = trigger.resource.DependsOn ?? [];
      expect(after).toContain(onlyResource(template, 'AWS::RDS::DBInstance').id);
      expect(after).toContain(onlyResource(template, 'AWS::RDS::DBProxy').id);
      expect(after).toContain(onlyResource(template, 'AWS::RDS::DBProxyTargetGroup').id);
      expect(after.some((d) => d.includes('SecretsManagerEndpoint'))).toBe(true);

      const ingest = template.toJSON().Resources[functionId(template, 'ingest')] as CfnResourceJson;
      expect(ingest.DependsOn).toContain(trigger.id);
      const esm = onlyResource(template, 'AWS::Lambda::EventSourceMapping');
      expect(esm.resource.DependsOn).toContain(trigger.id);
    });

    it('the migrate function reaches the database the same way ingest does', () => {
      const ingest = functionEnv(template, 'ingest');
      expect(functionEnv(template, 'migrate')).toMatchObject({
        DB_SECRET_ARN: ingest.DB_SECRET_ARN,
        DB_HOST: ingest.DB_HOST,
        DB_NAME: ingest.DB_NAME,
      });
    });
  });

  describe('database', () => {
    it('is RDS PostgreSQL 17 (a pinned minor), encrypted, private, with generated credentials in Secrets Manager', () => {
      const { resource } = onlyResource(template, 'AWS::RDS::DBInstance');
      expect(resource.Properties).toMatchObject({
        Engine: 'postgres',
        EngineVersion: '17.9',
        StorageEncrypted: true,
        PubliclyAccessible: false,
        DBName: deploySettings.databaseName,
        DeletionProtection: true,
      });
      expect(resource.DeletionPolicy).toBe('Snapshot');
      template.resourceCountIs('AWS::SecretsManager::Secret', 1);
      template.resourceCountIs('AWS::SecretsManager::SecretTargetAttachment', 1);
    });

    it("uses a parameter group with the topology's write settings", () => {
      const { id, resource } = onlyResource(template, 'AWS::RDS::DBParameterGroup');
      expect(resource.Properties).toMatchObject({
        Family: 'postgres17',
        Parameters: {
          max_wal_size: String(topology.database.maxWalSizeMb),
          checkpoint_timeout: String(topology.database.checkpointTimeoutSeconds),
          checkpoint_completion_target: String(topology.database.checkpointCompletionTarget),
        },
      });
      template.hasResourceProperties('AWS::RDS::DBInstance', { DBParameterGroupName: { Ref: id } });
    });

    it('sits behind an RDS Proxy that requires TLS', () => {
      template.hasResourceProperties('AWS::RDS::DBProxy', { EngineFamily: 'POSTGRESQL', RequireTLS: true });
    });

    it('lives in isolated subnets with no NAT or internet gateway, and VPC endpoints instead', () => {
      template.resourceCountIs('AWS::EC2::NatGateway', 0);
      template.resourceCountIs('AWS::EC2::InternetGateway', 0);
      template.resourceCountIs('AWS::EC2::EIP', 0);
      for (const s of Object.values(template.findResources('AWS::EC2::Subnet')) as CfnResourceJson[]) {
        expect(s.Properties?.MapPublicIpOnLaunch).toBe(false);
      }
      const endpoints = Object.values(template.findResources('AWS::EC2::VPCEndpoint')) as CfnResourceJson[];
      const services = endpoints.map((e) => [
        JSON.stringify(e.Properties?.ServiceName),
        e.Properties?.VpcEndpointType,
      ]);
      expect(services).toEqual(
        expect.arrayContaining([
          [expect.stringContaining('.s3'), 'Gateway'],
          [expect.stringContaining('.secretsmanager'), 'Interface'],
          [expect.stringContaining('.sqs'), 'Interface'],
        ]),
      );
    });
  });

  describe('alarms and dashboard', () => {
    it('alarms on a non-empty DLQ, an old message, ingest errors and failed records', () => {
      const { main, dlq } = queueIds();
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [main, 'QueueName'] } }],
        Threshold: deploySettings.alarms.oldestMessageAgeSeconds,
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'Errors',
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(template, 'ingest') } }],
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'batchItemFailures',
        Namespace: topology.observability.metricsNamespace,
        Dimensions: [{ Name: 'service', Value: `${topology.observability.serviceName}-ingest` }],
      });
    });

    it('has a dashboard with every pipeline metric, the queue depth and the DLQ', () => {
      const { resource } = onlyResource(template, 'AWS::CloudWatch::Dashboard');
      const body = JSON.stringify(resource.Properties?.DashboardBody);
      for (const metric of [
        'eventsGenerated',
        'objectsWritten',
        'eventsInserted',
        'eventsDuplicate',
        'eventsRejected',
        'objectsIngested',
        'objectsSkippedReplay',
        'batchItemFailures',
        'ingestLatencyMs',
        'eventLagMs',
        'objectsReconciled',
        'ApproximateNumberOfMessagesVisible',
        'ApproximateAgeOfOldestMessage',
      ]) {
        expect(body).toContain(metric);
      }
      expect(body).toContain(topology.observability.metricsNamespace);
      expect(body).toContain(`${topology.observability.serviceName}-ingest`);
    });
  });

  it('outputs the bucket, queues, dashboard URL and database endpoint and secret', () => {
    const outputs = Object.keys(template.toJSON().Outputs ?? {});
    expect(outputs).toEqual(
      expect.arrayContaining([
        'BucketName',
        'QueueUrl',
        'DeadLetterQueueUrl',
        'ReconcileFunctionName',
        'DashboardUrl',
        'DatabaseEndpoint',
        'DatabaseProxyEndpoint',
        'DatabaseSecretArn',
      ]),
    );
  });
});

describe('pipeline stack options', { timeout: 60_000 }, () => {
  it('-c schedule=false keeps the rule but disables it', () => {
    const synth = synthPipeline({ schedule: 'false' }, FAST);
    try {
      synth.template.hasResourceProperties('AWS::Events::Rule', { State: 'DISABLED' });
    } finally {
      synth.dispose();
    }
  });

  it('-c removalPolicy=destroy makes bucket, database and logs deletable', () => {
    const synth = synthPipeline({ removalPolicy: 'destroy' }, FAST);
    try {
      const t = synth.template;
      expect(onlyResource(t, 'AWS::S3::Bucket').resource.DeletionPolicy).toBe('Delete');
      t.resourceCountIs('Custom::S3AutoDeleteObjects', 1);
      const db = onlyResource(t, 'AWS::RDS::DBInstance').resource;
      expect(db.DeletionPolicy).toBe('Delete');
      expect(db.Properties?.DeletionProtection).toBe(false);
      const logGroups = Object.values(t.findResources('AWS::Logs::LogGroup')) as CfnResourceJson[];
      expect(logGroups.every((g) => g.DeletionPolicy === 'Delete')).toBe(true);
    } finally {
      synth.dispose();
    }
  });

  it('-c alarmEmail=… sends every alarm to an SNS topic', () => {
    const synth = synthPipeline({ alarmEmail: 'ops@example.com' }, FAST);
    try {
      const t = synth.template;
      const topic = onlyResource(t, 'AWS::SNS::Topic').id;
      t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
      for (const alarm of Object.values(t.findResources('AWS::CloudWatch::Alarm')) as CfnResourceJson[]) {
        expect(alarm.Properties?.AlarmActions).toEqual([{ Ref: topic }]);
      }
    } finally {
      synth.dispose();
    }
  });
});
