/**
 * `npm run localstack:smoke`: end-to-end check of the pipeline deployed on LocalStack.
 *
 * Puts one CSV object (valid rows plus one bad row) under the notification prefix, then waits, with a
 * deadline, for the ingest function to record that object in the `ingested_objects` ledger, and
 * checks the counts: S3 → notification → SQS → event source mapping → Lambda → PostgreSQL.
 * Exit code 0 when the object was ingested as expected, 1 otherwise (with diagnostics).
 */
import { randomUUID } from 'node:crypto';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import pg from 'pg';
import { objectKey } from '../../../functions/generator/generate.ts';
import { EVENT_COLUMNS } from '../../../functions/shared/event.ts';
import { topology } from '../../../infra/topology.ts';
import { localstack, localstackClientConfig, waitFor } from './env.ts';

const VALID_ROWS = 10;
const timeoutMs = Number(process.env.SMOKE_TIMEOUT_SECONDS ?? 240) * 1000;

interface LedgerRow {
  status: string;
  error: string | null;
  rows_total: number;
  rows_inserted: number;
  rows_duplicate: number;
  rows_rejected: number;
}

async function stackOutputs(): Promise<Record<string, string>> {
  const cfn = new CloudFormationClient(localstackClientConfig());
  const out = await cfn.send(new DescribeStacksCommand({ StackName: localstack.stackName }));
  const outputs = out.Stacks?.[0]?.Outputs ?? [];
  return Object.fromEntries(outputs.map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
}

/** A small CSV in the pipeline's format: `VALID_ROWS` good rows and one with an unknown event type. */
function smokeCsv(now: Date): string {
  const row = (eventType: string, i: number) =>
    [
      randomUUID(),
      eventType,
      `smoke-user-${i % 3}`,
      'smoke-session-1',
      `smoke-product-${i}`,
      `Smoke Test Widget ${i}`,
      'smoke',
      '9.99',
      '1',
      'desktop',
      new Date(now.getTime() - i * 1000).toISOString(),
    ].join(',');
  const rows = Array.from({ length: VALID_ROWS }, (_, i) => row(i % 5 === 4 ? 'purchase' : 'view', i));
  rows.push(row('teleport', VALID_ROWS));
  return `${[EVENT_COLUMNS.join(','), ...rows].join('\n')}\n`;
}

async function queueDepths(outputs: Record<string, string>): Promise<string> {
  const sqs = new SQSClient(localstackClientConfig());
  const depth = async (url: string | undefined) => {
    if (!url) return 'unknown';
    const a = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return `${a.Attributes?.ApproximateNumberOfMessages ?? '?'} visible, ${a.Attributes?.ApproximateNumberOfMessagesNotVisible ?? '?'} in flight`;
  };
  return `queue: ${await depth(outputs.QueueUrl)}; DLQ: ${await depth(outputs.DeadLetterQueueUrl)}`;
}

async function main(): Promise<void> {
  const outputs = await stackOutputs();
  const bucket = outputs.BucketName;
  if (!bucket)
    throw new Error(`Stack ${localstack.stackName} has no BucketName output: run npm run localstack:deploy`);

  const now = new Date();
  // The generator's own key format, so the object looks like any other one in events/YYYY/MM/DD/HH/.
  const key = objectKey(topology.notification.prefix, now, `smoke-${randomUUID().slice(0, 8)}`);
  const s3 = new S3Client({ ...localstackClientConfig(), forcePathStyle: true });
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: smokeCsv(now), ContentType: 'text/csv' }),
  );
  console.log(`put s3://${bucket}/${key} (${VALID_ROWS} valid rows + 1 bad row)`);

  const db = new pg.Client({ connectionString: localstack.hostDatabaseUrl, connectionTimeoutMillis: 5000 });
  await db.connect();
  try {
    const started = Date.now();
    let ledger: LedgerRow;
    try {
      // The signal is the ledger row: it commits together with the object's rows and rejects.
      ledger = await waitFor(
        `s3://${bucket}/${key} in ingested_objects`,
        async () => {
          const { rows } = await db.query<LedgerRow>(
            `SELECT status, error, rows_total, rows_inserted, rows_duplicate, rows_rejected
               FROM ingested_objects WHERE bucket = $1 AND key = $2`,
            [bucket, key],
          );
          return rows[0];
        },
        { timeoutMs, intervalMs: 1000 },
      );
    } catch (e: unknown) {
      console.error((e as Error).message);
      console.error(
        await queueDepths(outputs).catch((err: unknown) => `queue depths unavailable: ${String(err)}`),
      );
      console.error('Look at: docker compose -f docker-compose.localstack.yml logs localstack');
      process.exitCode = 1;
      return;
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const events = await db.query<{ n: string }>(
      'SELECT count(*) AS n FROM user_events WHERE source_key = $1',
      [key],
    );
    const rejects = await db.query<{ reason: string; n: string }>(
      'SELECT reason, count(*) AS n FROM rejected_events WHERE source_key = $1 GROUP BY reason ORDER BY reason',
      [key],
    );
    const totals = await db.query<{ objects: string; events: string; rejected: string }>(
      `SELECT (SELECT count(*) FROM ingested_objects) AS objects,
              (SELECT count(*) FROM user_events) AS events,
              (SELECT count(*) FROM rejected_events) AS rejected`,
    );
    console.log(
      `ingested after ${seconds} s: status=${ledger.status}${ledger.error ? ` error=${ledger.error}` : ''}`,
    );
    console.log(
      `  rows: total=${ledger.rows_total} inserted=${ledger.rows_inserted} duplicate=${ledger.rows_duplicate} rejected=${ledger.rows_rejected}`,
    );
    console.log(`  user_events for this object: ${events.rows[0]?.n}`);
    console.log(`  rejects: ${rejects.rows.map((r) => `${r.reason}=${r.n}`).join(', ') || 'none'}`);
    const t = totals.rows[0];
    console.log(`database totals: ${t?.objects} objects, ${t?.events} events, ${t?.rejected} rejected rows`);

    const ok =
      ledger.status === 'ingested' &&
      ledger.rows_total === VALID_ROWS + 1 &&
      ledger.rows_inserted === VALID_ROWS &&
      ledger.rows_rejected === 1 &&
      Number(events.rows[0]?.n) === VALID_ROWS;
    console.log(ok ? 'SMOKE OK' : 'SMOKE FAILED: counts differ from what was put');
    if (!ok) process.exitCode = 1;
  } finally {
    await db.end();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
