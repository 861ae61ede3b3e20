import { App } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromContext } from '../../infra/config.ts';
import { topology } from '../../infra/topology.ts';
import {
  type CfnResourceJson,
  functionEnv,
  functionId,
  localstackContext,
  onlyResource,
  type Synthesized,
  synthPipeline,
} from './synth.ts';

/** Template assertions only: skip CDK's built-in CloudFormation validation (see SynthOptions). */
const FAST = { cfnValidation: false } as const;

/** Resource types that only exist when the stack creates its own database. */
const DATABASE_ONLY = [
  'AWS::EC2::VPC',
  'AWS::EC2::Subnet',
  'AWS::EC2::VPCEndpoint',
  'AWS::EC2::SecurityGroup',
  'AWS::RDS::DBInstance',
  'AWS::RDS::DBProxy',
  'AWS::RDS::DBSubnetGroup',
  'AWS::SecretsManager::Secret',
];

function expectNoOwnDatabase(template: Template): void {
  for (const type of DATABASE_ONLY) template.resourceCountIs(type, 0);
  for (const name of ['ingest', 'migrate'] as const) {
    const env = functionEnv(template, name);
    expect(env.DATABASE_URL).toBe(localstackContext.databaseUrl);
    expect(env.DB_SECRET_ARN).toBeUndefined();
    expect(env.DB_HOST).toBeUndefined();
    const fn = template.toJSON().Resources[functionId(template, name)] as CfnResourceJson;
    expect(fn.Properties?.VpcConfig).toBeUndefined();
  }
  const outputs = Object.keys(template.toJSON().Outputs ?? {});
  expect(outputs).toEqual(
    expect.arrayContaining(['BucketName', 'QueueUrl', 'DeadLetterQueueUrl', 'DashboardUrl']),
  );
  expect(outputs.filter((o) => o.startsWith('Database'))).toEqual([]);
}

describe('external database (-c databaseUrl=…)', { timeout: 60_000 }, () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthPipeline({ databaseUrl: localstackContext.databaseUrl }, FAST);
  }, 60_000);
  afterAll(() => synth?.dispose());

  it('creates no VPC, RDS instance, proxy or secret, and passes DATABASE_URL', () => {
    expectNoOwnDatabase(synth.template);
  });

  it('still migrates before ingest and keeps the S3 notification custom resource', () => {
    const t = synth.template;
    const trigger = onlyResource(t, 'Custom::Trigger').id;
    expect(onlyResource(t, 'AWS::Lambda::EventSourceMapping').resource.DependsOn).toContain(trigger);
    t.resourceCountIs('Custom::S3BucketNotifications', 1);
  });
});

describe('LocalStack variant (-c localstack=true -c databaseUrl=…)', { timeout: 60_000 }, () => {
  let synth: Synthesized;
  let template: Template;
  beforeAll(() => {
    synth = synthPipeline(localstackContext, FAST);
    template = synth.template;
  }, 60_000);
  afterAll(() => synth?.dispose());

  it('has no RDS, proxy, VPC or secret', () => {
    expectNoOwnDatabase(template);
  });

  it('has the same queues, functions, mapping, schedule, alarms and dashboard as AWS', () => {
    template.resourceCountIs('AWS::SQS::Queue', 2);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: topology.ingest.batchSize,
    });
    template.hasResourceProperties('AWS::Events::Rule', { State: 'ENABLED' });
    expect(Object.keys(template.findResources('AWS::CloudWatch::Alarm')).length).toBeGreaterThanOrEqual(3);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    // Disposable by default: LocalStack state is thrown away with the container.
    expect(onlyResource(template, 'AWS::S3::Bucket').resource.DeletionPolicy).toBe('Delete');
  });

  it('configures the notification on the bucket itself, not through the custom resource', () => {
    template.resourceCountIs('Custom::S3BucketNotifications', 0);
    const queue = onlyResource(template, 'AWS::SQS::Queue', { RedrivePolicy: Match.anyValue() }).id;
    const { resource: bucket } = onlyResource(template, 'AWS::S3::Bucket');
    expect(bucket.Properties?.NotificationConfiguration).toEqual({
      QueueConfigurations: topology.notification.suffixes.map((suffix) => ({
        Event: 's3:ObjectCreated:*',
        Queue: { 'Fn::GetAtt': [queue, 'Arn'] },
        Filter: {
          S3Key: {
            Rules: [
              { Name: 'prefix', Value: topology.notification.prefix },
              { Name: 'suffix', Value: suffix },
            ],
          },
        },
      })),
    });
    expect(topology.notification.suffixes).toHaveLength(3);
  });

  it('lets S3 send to the queue, and creates the bucket only after that policy', () => {
    const policies = template.findResources('AWS::SQS::QueuePolicy') as Record<string, CfnResourceJson>;
    const [policyId] = Object.entries(policies).find(([, p]) =>
      JSON.stringify(p.Properties).includes('"Service":"s3.amazonaws.com"'),
    ) ?? [undefined];
    expect(policyId).toBeDefined();
    const policy = JSON.stringify(policies[policyId as string]);
    expect(policy).toContain('sqs:SendMessage');
    expect(onlyResource(template, 'AWS::S3::Bucket').resource.DependsOn).toContain(policyId);
  });
});

describe('context validation', () => {
  it('rejects LocalStack mode without an external database', () => {
    const app = new App({ context: { localstack: 'true' } });
    expect(() => configFromContext(app.node)).toThrow(/databaseUrl/);
  });

  it('rejects a databaseUrl that is not a PostgreSQL URL', () => {
    const app = new App({ context: { databaseUrl: 'mysql://x' } });
    expect(() => configFromContext(app.node)).toThrow(/postgres/);
  });

  it('reads flags from -c strings and defaults to AWS mode', () => {
    expect(configFromContext(new App().node)).toEqual({
      localstack: false,
      schedule: true,
      removal: 'retain',
      dbInstanceType: 't4g.micro',
      dbMultiAz: false,
      afterIngest: topology.ingest.afterIngest,
      maxRejectRatio: topology.ingest.maxRejectRatio,
    });
    const app = new App({ context: { schedule: 'false', removalPolicy: 'destroy', dbMultiAz: '1' } });
    expect(configFromContext(app.node)).toMatchObject({
      schedule: false,
      removal: 'destroy',
      dbMultiAz: true,
    });
    expect(() => configFromContext(new App({ context: { schedule: 'maybe' } }).node)).toThrow(/schedule/);
  });

  it('reads what ingest does after an object and its reject budget, and checks them', () => {
    const app = new App({ context: { afterIngest: 'archive', maxRejectRatio: '0.2' } });
    expect(configFromContext(app.node)).toMatchObject({ afterIngest: 'archive', maxRejectRatio: 0.2 });
    expect(() => configFromContext(new App({ context: { afterIngest: 'move' } }).node)).toThrow(
      /afterIngest/,
    );
    expect(() => configFromContext(new App({ context: { maxRejectRatio: '2' } }).node)).toThrow(
      /maxRejectRatio/,
    );
  });
});

describe('after ingest (-c afterIngest=…)', { timeout: 60_000 }, () => {
  const ingestStatements = (template: Template) => {
    const [, policy] =
      Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) =>
        id.startsWith('IngestServiceRoleDefaultPolicy'),
      ) ?? [];
    return JSON.stringify(policy);
  };

  it('keeps objects by default: no delete or put permission', () => {
    const synth = synthPipeline({ databaseUrl: localstackContext.databaseUrl }, FAST);
    try {
      expect(functionEnv(synth.template, 'ingest')).toMatchObject({
        AFTER_INGEST: 'keep',
        ARCHIVE_PREFIX: 'archive/',
      });
      const policy = ingestStatements(synth.template);
      expect(policy).not.toContain('s3:DeleteObject');
      expect(policy).not.toContain('s3:PutObject');
    } finally {
      synth.dispose();
    }
  });

  it('archive: may put under the archive prefix and delete under the notification prefix, nothing more', () => {
    const synth = synthPipeline({ databaseUrl: localstackContext.databaseUrl, afterIngest: 'archive' }, FAST);
    try {
      expect(functionEnv(synth.template, 'ingest')).toMatchObject({ AFTER_INGEST: 'archive' });
      const policy = ingestStatements(synth.template);
      expect(policy).toMatch(/"s3:DeleteObject".*?events\/\*/);
      expect(policy).toMatch(/"s3:PutObject".*?archive\/\*/);
    } finally {
      synth.dispose();
    }
  });
});
