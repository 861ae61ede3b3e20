import { RemovalPolicy } from 'aws-cdk-lib';
import type { Node } from 'constructs';
import { topology } from './topology.ts';

/**
 * Deploy-time choices of the CDK app, read from CDK context (`-c key=value` or `cdk.json`).
 *
 * The pipeline's shape (names, filters, batching, timeouts) lives in `infra/topology.ts` and is shared
 * with the local runtime; this file only holds what differs between deployments of the same shape.
 */
export interface PipelineConfig {
  /**
   * An external PostgreSQL URL (LocalStack's compose service, an existing database). When set, the
   * stack creates no VPC, RDS instance, proxy or secret, and the functions get `DATABASE_URL`.
   */
  databaseUrl?: string;
  /** Deploying to LocalStack: avoid constructs LocalStack handles badly (see docs/deploy.md). */
  localstack: boolean;
  /** Whether the EventBridge rule invoking the generator is enabled. */
  schedule: boolean;
  /** What happens to data-bearing resources (bucket, database, logs, secret) on stack deletion. */
  removal: 'retain' | 'destroy';
  /** RDS instance class, e.g. `t4g.micro` (default mode only). */
  dbInstanceType: string;
  /** Run the RDS instance Multi-AZ (default mode only; doubles the instance cost). */
  dbMultiAz: boolean;
  /** Optional e-mail address subscribed to the alarms' SNS topic. */
  alarmEmail?: string;
  /** What ingest does with an object once ingested (default: the topology's). */
  afterIngest: 'keep' | 'delete' | 'archive';
  /** Reject budget per object (default: the topology's). */
  maxRejectRatio: number;
}

/** Settings that only exist on AWS (the local runtime has no alarms or log retention). */
export const deploySettings = {
  /** CloudWatch Logs retention of every function's log group (days; one of CloudWatch's values). */
  logRetentionDays: 14,
  /** Database created in the RDS instance; also the default in the LocalStack compose file. */
  databaseName: 'pipeline',
  /** Master user of the RDS instance; its password is generated into Secrets Manager. */
  databaseUser: 'pipeline',
  /** Pool size per ingest container: one SQS batch rarely needs more than two connections. */
  ingestPoolMax: 2,
  migrate: {
    timeoutSeconds: 180,
    memoryMb: 256,
  },
  /** Lifecycle of the events bucket. */
  bucket: {
    /** Incomplete multipart uploads (an interrupted large PUT) are aborted after this many days. */
    abortIncompleteUploadAfterDays: 1,
    /** Objects under the archive prefix are deleted this many days after they were archived. */
    archiveExpirationDays: 30,
  },
  alarms: {
    /** Alarm when the oldest message in the ingest queue is older than this (seconds). */
    oldestMessageAgeSeconds: 600,
    /** Evaluation period of the alarms (minutes). */
    periodMinutes: 5,
  },
} as const;

function flag(node: Node, key: string, fallback: boolean): boolean {
  const raw: unknown = node.tryGetContext(key);
  if (raw === undefined || raw === null || raw === '') return fallback;
  if (typeof raw === 'boolean') return raw;
  const s = String(raw).toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(s)) return true;
  if (['false', '0', 'no', 'off'].includes(s)) return false;
  throw new Error(`Context "${key}" must be true or false, got "${String(raw)}"`);
}

function text(node: Node, key: string): string | undefined {
  const raw: unknown = node.tryGetContext(key);
  return raw === undefined || raw === null || raw === '' ? undefined : String(raw);
}

/**
 * Read the configuration from CDK context. Fails on contradictions (LocalStack without an external
 * database) at synth time, so a wrong flag never reaches CloudFormation.
 */
export function configFromContext(node: Node): PipelineConfig {
  const localstack = flag(node, 'localstack', false);
  const databaseUrl = text(node, 'databaseUrl');
  if (localstack && !databaseUrl) {
    throw new Error(
      'LocalStack mode (-c localstack=true) needs -c databaseUrl=postgres://…: LocalStack has no RDS Proxy',
    );
  }
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new Error('Context "databaseUrl" must be a postgres:// or postgresql:// URL');
  }
  const removal = text(node, 'removalPolicy') ?? (localstack ? 'destroy' : 'retain');
  if (removal !== 'retain' && removal !== 'destroy') {
    throw new Error(`Context "removalPolicy" must be retain or destroy, got "${removal}"`);
  }
  const alarmEmail = text(node, 'alarmEmail');
  const afterIngest = text(node, 'afterIngest') ?? topology.ingest.afterIngest;
  if (afterIngest !== 'keep' && afterIngest !== 'delete' && afterIngest !== 'archive') {
    throw new Error(`Context "afterIngest" must be keep, delete or archive, got "${afterIngest}"`);
  }
  const maxRejectRatio = Number(text(node, 'maxRejectRatio') ?? topology.ingest.maxRejectRatio);
  if (!(maxRejectRatio >= 0 && maxRejectRatio <= 1)) {
    throw new Error(
      `Context "maxRejectRatio" must be a number from 0 to 1, got "${text(node, 'maxRejectRatio')}"`,
    );
  }
  return {
    afterIngest,
    maxRejectRatio,
    localstack,
    schedule: flag(node, 'schedule', true),
    removal,
    dbInstanceType: text(node, 'dbInstanceType') ?? 't4g.micro',
    dbMultiAz: flag(node, 'dbMultiAz', false),
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(alarmEmail ? { alarmEmail } : {}),
  };
}

/** The CloudFormation removal policy for data-bearing resources. */
export function removalPolicyOf(config: PipelineConfig): RemovalPolicy {
  return config.removal === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
}
