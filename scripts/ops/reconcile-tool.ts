import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { S3Client } from '@aws-sdk/client-s3';
import { GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import pg from 'pg';
import {
  type ReconciledObject,
  type ReconcileSummary,
  reconcile,
} from '../../functions/reconcile/reconcile.ts';
import { reconcileStaleSeconds, topology } from '../../infra/topology.ts';

/**
 * `npm run reconcile`: one reconciliation pass from a terminal, against the local runtime, LocalStack
 * or AWS, with the very function the scheduled one runs. Unlike the scheduled runs it lists the
 * whole bucket under the prefix (or what changed `--since`), and it neither reads nor moves their
 * cursor.
 */

/** Where to look, as for `npm run status`. */
export type Target = 'local' | 'localstack' | 'aws';

/** What {@link runReconcileTool} is told. */
export interface ReconcileToolOptions {
  target: Target;
  /** S3+SQS (and, for LocalStack, CloudFormation) endpoint; unset on AWS. */
  endpointUrl?: string;
  databaseUrl: string;
  /** CloudFormation stack whose outputs name the bucket and queue (LocalStack, AWS). */
  stackName?: string;
  /** Bucket and queue for the local runtime (default: the topology's names). */
  bucket?: string;
  queue?: string;
  since?: Date;
  graceSeconds?: number;
  dryRun?: boolean;
  maxObjects?: number;
  region?: string;
  onObject?: (o: ReconciledObject) => void;
}

/**
 * A `--since` value as a time: a duration back from `now` (`90s`, `30m`, `24h`, `7d`) or an ISO-8601
 * time. Throws with the accepted forms when it is neither.
 */
export function parseSince(text: string, now: number = Date.now()): Date {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(text.trim());
  if (m) {
    const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(m[1]) * unit * 1000);
  }
  const t = Date.parse(text);
  if (Number.isNaN(t))
    throw new Error(`--since takes a duration (90s, 30m, 24h, 7d) or an ISO time, got "${text}"`);
  return new Date(t);
}

/** Bucket and queue of the target: by name locally, from the stack's outputs on LocalStack and AWS. */
async function resolveTarget(
  options: ReconcileToolOptions,
  sqs: SQSClient,
  common: ConstructorParameters<typeof CloudFormationClient>[0],
): Promise<{ bucket: string; queueUrl: string }> {
  const byName = async () => ({
    bucket: options.bucket ?? topology.names.bucket,
    queueUrl: (await sqs.send(new GetQueueUrlCommand({ QueueName: options.queue ?? topology.names.queue })))
      .QueueUrl as string,
  });
  if (options.target === 'local') return byName();
  const cfn = new CloudFormationClient(common ?? {});
  const stackName = options.stackName ?? 'EcommercePipeline';
  try {
    const out = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs = out.Stacks?.[0]?.Outputs ?? [];
    const get = (key: string) => outputs.find((o) => o.OutputKey === key)?.OutputValue;
    const bucket = options.bucket ?? get('BucketName');
    const queueUrl = get('QueueUrl');
    if (!bucket || !queueUrl) throw new Error(`stack ${stackName} has no BucketName / QueueUrl outputs`);
    return { bucket, queueUrl };
  } catch (e: unknown) {
    // LocalStack may hold the bucket and queue without the stack (`npm start` against it).
    if (options.target === 'localstack') return byName();
    throw e;
  } finally {
    cfn.destroy();
  }
}

/** Run one full reconciliation pass; returns what it did (or, dry, would do). */
export async function runReconcileTool(
  options: ReconcileToolOptions,
): Promise<ReconcileSummary & { bucket: string; queueUrl: string }> {
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const emulated = options.target !== 'aws';
  const common = {
    region,
    ...(options.endpointUrl ? { endpoint: options.endpointUrl } : {}),
    ...(emulated && !process.env.AWS_ACCESS_KEY_ID
      ? { credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }
      : {}),
  };
  const s3 = new S3Client({ ...common, ...(options.endpointUrl ? { forcePathStyle: true } : {}) });
  const sqs = new SQSClient(common);
  const db = new pg.Pool({ connectionString: options.databaseUrl, max: 2, connectionTimeoutMillis: 5000 });
  try {
    const { bucket, queueUrl } = await resolveTarget(options, sqs, common);
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    const summary = await reconcile(
      { s3, sqs, db, logger: quiet, clock: Date.now },
      {
        bucket,
        prefix: topology.notification.prefix,
        suffixes: topology.notification.suffixes,
        queueUrl,
        graceSeconds: options.graceSeconds ?? topology.reconcile.graceSeconds,
        staleSeconds: reconcileStaleSeconds(),
        maxObjects: options.maxObjects ?? Number.POSITIVE_INFINITY,
        maxNotifications: Number.POSITIVE_INFINITY,
        region,
        ...(options.since ? { since: options.since } : {}),
        dryRun: options.dryRun ?? false,
        ...(options.onObject ? { onObject: options.onObject } : {}),
      },
    );
    return { ...summary, bucket, queueUrl };
  } finally {
    s3.destroy();
    sqs.destroy();
    await db.end();
  }
}
