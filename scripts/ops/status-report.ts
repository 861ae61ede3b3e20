import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import pg from 'pg';
import { redactUrl } from '../../functions/shared/db.ts';
import { topology } from '../../infra/topology.ts';
import {
  type Latency,
  type LedgerCounts,
  type LedgerRow,
  type ReconciledRow,
  readCounts,
  readLatency,
  readLatestObjects,
  readLatestReconciled,
  readRejectReasons,
} from '../local/dashboard/queries.ts';

/**
 * `npm run status`: the dashboard's numbers in a terminal, against the local runtime, LocalStack or
 * AWS. Queues are found by the topology's names (local runtime) or the CloudFormation stack's
 * outputs (`QueueUrl`, `DeadLetterQueueUrl`, as `infra/stack.ts` declares them); the database is
 * `DATABASE_URL` or, for the local runtime, `.data/database-url`.
 */

/** Where to look. */
export type Target = 'local' | 'localstack' | 'aws';

/** What the caller tells {@link collectReport}; unset fields are found as described above. */
export interface ReportOptions {
  target: Target;
  /** S3+SQS (and, for LocalStack, CloudFormation) endpoint; unset on AWS. */
  endpointUrl?: string;
  /** CloudFormation stack name (default `EcommercePipeline`, the CDK app's default). */
  stackName?: string;
  /** Queue names, for the local runtime (default: the topology's). */
  queueName?: string;
  dlqName?: string;
  databaseUrl?: string;
  region?: string;
}

/** Depth of one queue. */
export interface QueueDepth {
  url: string;
  visible: number;
  inFlight: number;
}

/** The numbers `npm run status` prints; a part that could not be read carries its error instead. */
export interface Report {
  target: Target;
  endpointUrl?: string;
  queues: { queue: QueueDepth; dlq: QueueDepth } | { error: string };
  database:
    | {
        url: string;
        counts: LedgerCounts;
        latency: Latency;
        failures: LedgerRow[];
        reasons: { reason: string; rows: number }[];
        /** The latest objects reconciliation sent to ingest again (their notification was lost). */
        reconciled: ReconciledRow[];
      }
    | { error: string };
}

/** The queue URLs among a stack's outputs (names as in `infra/stack.ts`). */
export function queuesFromOutputs(outputs: readonly Output[]): { queueUrl: string; dlqUrl: string } {
  const get = (key: string) => outputs.find((o) => o.OutputKey === key)?.OutputValue;
  const queueUrl = get('QueueUrl');
  const dlqUrl = get('DeadLetterQueueUrl');
  if (!queueUrl || !dlqUrl) throw new Error('the stack has no QueueUrl / DeadLetterQueueUrl outputs');
  return { queueUrl, dlqUrl };
}

/** The database URL: given, else the local runtime's `.data/database-url` (written by `npm start`). */
export function localDatabaseUrl(root: string): string | undefined {
  const file = path.join(root, '.data', 'database-url');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/** Gather the report; never throws for an unreachable part, so the rest still prints. */
export async function collectReport(options: ReportOptions): Promise<Report> {
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const local = options.target !== 'aws';
  // The local runtime and LocalStack accept any credentials; on AWS the SDK's own chain applies.
  const common = {
    region,
    ...(options.endpointUrl ? { endpoint: options.endpointUrl } : {}),
    ...(local && !process.env.AWS_ACCESS_KEY_ID
      ? { credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }
      : {}),
  };
  const sqs = new SQSClient(common);
  const [queues, database] = await Promise.all([
    readQueues(sqs, options, common).catch((e: unknown) => ({ error: (e as Error).message })),
    readDatabase(options.databaseUrl).catch((e: unknown) => ({ error: (e as Error).message })),
  ]);
  sqs.destroy();
  return {
    target: options.target,
    ...(options.endpointUrl ? { endpointUrl: options.endpointUrl } : {}),
    queues,
    database,
  };
}

async function readQueues(
  sqs: SQSClient,
  options: ReportOptions,
  common: ConstructorParameters<typeof CloudFormationClient>[0],
): Promise<{ queue: QueueDepth; dlq: QueueDepth }> {
  let urls: { queueUrl: string; dlqUrl: string };
  if (options.target === 'local') {
    urls = await urlsByName(sqs, options);
  } else {
    const cfn = new CloudFormationClient(common ?? {});
    const stackName = options.stackName ?? 'EcommercePipeline';
    try {
      const out = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
      urls = queuesFromOutputs(out.Stacks?.[0]?.Outputs ?? []);
    } catch (e: unknown) {
      // LocalStack may hold the queues without the stack (e.g. `npm start` against it): try the names.
      if (options.target !== 'localstack') throw new Error(`stack ${stackName}: ${(e as Error).message}`);
      urls = await urlsByName(sqs, options);
    } finally {
      cfn.destroy();
    }
  }
  const [queue, dlq] = await Promise.all([depth(sqs, urls.queueUrl), depth(sqs, urls.dlqUrl)]);
  return { queue, dlq };
}

async function urlsByName(
  sqs: SQSClient,
  options: ReportOptions,
): Promise<{ queueUrl: string; dlqUrl: string }> {
  const url = async (name: string) =>
    (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl as string;
  const [queueUrl, dlqUrl] = await Promise.all([
    url(options.queueName ?? topology.names.queue),
    url(options.dlqName ?? topology.names.dlq),
  ]);
  return { queueUrl, dlqUrl };
}

async function depth(sqs: SQSClient, url: string): Promise<QueueDepth> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    url,
    visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

async function readDatabase(
  url: string | undefined,
): Promise<Exclude<Report['database'], { error: string }>> {
  if (!url)
    throw new Error(
      'no database: set DATABASE_URL (on AWS the database is in a private VPC; use the CloudWatch dashboard)',
    );
  // A small pool, not one client: the reads run side by side (one client would queue them).
  const db = new pg.Pool({ connectionString: url, connectionTimeoutMillis: 5000, max: 3 });
  db.on('error', (e) => console.error(`database: ${e.message}`));
  try {
    const [counts, latency, failures, reasons, reconciled] = await Promise.all([
      readCounts(db),
      readLatency(db),
      readLatestObjects(db, { limit: 5, failedOnly: true }),
      readRejectReasons(db),
      readLatestReconciled(db, 5),
    ]);
    return { url: redactUrl(url), counts, latency, failures, reasons, reconciled };
  } finally {
    await db.end();
  }
}

/** The report as lines for a terminal. */
export function formatReport(r: Report): string {
  const n = new Intl.NumberFormat('en-US');
  const ms = (v: number | null) => (v === null ? '–' : `${n.format(v)} ms`);
  const lines = [`target       ${r.target}${r.endpointUrl ? ` (${r.endpointUrl})` : ''}`];
  if ('error' in r.queues) {
    lines.push(`queues       unavailable: ${r.queues.error}`);
  } else {
    const { queue, dlq } = r.queues;
    lines.push(
      `queue        ${n.format(queue.visible)} waiting, ${n.format(queue.inFlight)} in flight  ${queue.url}`,
    );
    lines.push(`DLQ          ${n.format(dlq.visible + dlq.inFlight)}  ${dlq.url}`);
  }
  if ('error' in r.database) {
    lines.push(`database     unavailable: ${r.database.error}`);
    return lines.join('\n');
  }
  const { counts: c, latency: l, failures, reasons, reconciled } = r.database;
  lines.push(`database     ${r.database.url}`);
  lines.push(
    `objects      ${n.format(c.objectsIngested)} ingested, ${n.format(c.objectsFailed)} failed (${n.format(c.objectsBudgetFailed)} over the reject budget), ` +
      `${n.format(c.objectsInProgress)} in progress, ${n.format(c.objectsMissing)} missing`,
  );
  lines.push(
    `rows         ${n.format(c.rowsInserted)} inserted, ${n.format(c.rowsDuplicate)} duplicates, ${n.format(c.rowsRejected)} rejected`,
  );
  const pct = (label: string, p: Latency['objectToCommit']) =>
    `${label} p50 ${ms(p.p50)}, p90 ${ms(p.p90)}, p99 ${ms(p.p99)}, max ${ms(p.max)} (n=${n.format(p.n)})`;
  lines.push(pct(`latency      object created → committed, last ${l.windowMinutes} min:`, l.objectToCommit));
  lines.push(pct(`             event → committed, last ${l.windowMinutes} min:`, l.eventToCommit));
  lines.push(pct(`             ingest transaction, last ${l.windowMinutes} min:`, l.processing));
  lines.push(
    `rejects      ${reasons.length ? reasons.map((x) => `${x.reason} ${n.format(x.rows)}`).join(', ') : 'none'}`,
  );
  lines.push(`last errors  ${failures.length ? '' : 'none'}`);
  for (const f of failures) lines.push(`  ${f.ingestedAt}  s3://${f.bucket}/${f.key}  ${f.error ?? ''}`);
  lines.push(
    `reconciled   ${n.format(c.objectsReconciled)} objects whose notification was lost, sent to ingest again${reconciled.length ? '; latest:' : ''}`,
  );
  for (const x of reconciled)
    lines.push(
      `  ${x.reconciledAt}  s3://${x.bucket}/${x.key}  ${x.reason}, now ${x.status ?? 'not in the ledger yet'}`,
    );
  return lines.join('\n');
}
