import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT } from '../../infra/paths.ts';
import { type LocalPipeline, startLocalPipeline } from '../../scripts/local/runtime.ts';
import { queuesFromOutputs, type Report } from '../../scripts/ops/status-report.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { untilStatus } from '../helpers/wait.ts';

/** `npm run status` against a running local pipeline: the numbers it prints are the database's. */
const run = promisify(execFile);
let db: TestDatabase;
let pipeline: LocalPipeline;
const NAMES = { bucket: 'status-bucket', queue: 'status-queue', dlq: 'status-dlq' };

beforeAll(async () => {
  db = await freshDatabase({ migrate: false });
  pipeline = await startLocalPipeline({
    port: 0,
    databaseUrl: db.url,
    generator: { intervalMs: 0, eventsPerObject: 200, seed: 99, badRate: 0.05, duplicateRate: 0.05 },
    ingest: { batchingWindowMs: 100 },
    resources: NAMES,
  });
});
afterAll(async () => {
  await pipeline?.stop();
  await db?.drop();
});

async function status(...args: string[]): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      'scripts/ops/status.ts',
      '--target',
      'local',
      '--endpoint',
      pipeline.endpointUrl,
      '--queue',
      NAMES.queue,
      '--dlq',
      NAMES.dlq,
      ...args,
    ],
    { cwd: ROOT, env: { ...process.env, DATABASE_URL: db.url, AWS_ENDPOINT_URL: '' } },
  );
  return stdout;
}

it('prints queue depth, DLQ, the ledger counts and the last failed object, equal to the database', async () => {
  for (let i = 0; i < 3; i++) await pipeline.generateOnce();
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint: pipeline.endpointUrl,
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await s3.send(
    new PutObjectCommand({ Bucket: NAMES.bucket, Key: 'events/status/wrong.csv', Body: 'a,b\n1,2\n' }),
  );
  s3.destroy();
  await untilStatus(
    pipeline,
    (s) => s.objectsIngested === 3 && s.objectsFailed === 1 && s.queueDepth === 0 && s.inFlight === 0,
  );

  const report = JSON.parse(await status('--json')) as Report;
  const truth = await db.pool.query<Record<string, number>>(
    `SELECT (SELECT count(*) FROM ingested_objects WHERE status = 'ingested')::int AS "objectsIngested",
            (SELECT count(*) FROM ingested_objects WHERE status = 'failed')::int AS "objectsFailed",
            (SELECT count(*) FROM ingested_objects
              WHERE status = 'failed' AND starts_with(error, 'reject_budget_exceeded'))::int AS "objectsBudgetFailed",
            (SELECT count(*) FROM ingested_objects WHERE status = 'in_progress')::int AS "objectsInProgress",
            (SELECT count(*) FROM ingested_objects WHERE status = 'missing')::int AS "objectsMissing",
            (SELECT count(*) FROM reconciled_objects)::int AS "objectsReconciled",
            (SELECT count(*) FROM user_events)::int AS "rowsInserted",
            (SELECT coalesce(sum(rows_duplicate), 0) FROM ingested_objects)::int AS "rowsDuplicate",
            (SELECT count(*) FROM rejected_events)::int AS "rowsRejected"`,
  );
  if ('error' in report.database) throw new Error(report.database.error);
  if ('error' in report.queues) throw new Error(report.queues.error);
  expect(report.database.counts).toEqual(truth.rows[0]);
  expect(report.database.counts.rowsInserted).toBeGreaterThan(0);
  expect(report.queues.queue).toMatchObject({ visible: 0, inFlight: 0 });
  expect(report.queues.queue.url).toContain(NAMES.queue);
  expect(report.queues.dlq).toMatchObject({ visible: 0, inFlight: 0 });
  expect(report.database.failures.map((f) => f.key)).toEqual(['events/status/wrong.csv']);
  expect(report.database.failures[0]?.error).toMatch(/^header_mismatch/);
  expect(report.database.latency.objectToCommit.n).toBe(3);
  expect(report.database.latency.processing.n).toBe(3);
  // Processing is part of the time from creation to commit.
  expect(report.database.latency.processing.max ?? Infinity).toBeLessThanOrEqual(
    report.database.latency.objectToCommit.max ?? 0,
  );
  const rejected = report.database.reasons.reduce((a, r) => a + r.rows, 0);
  expect(rejected).toBe(truth.rows[0]?.rowsRejected);

  const text = await status();
  const n = (v: number | undefined) => new Intl.NumberFormat('en-US').format(v ?? -1);
  const t = truth.rows[0];
  expect(text).toContain(`objects      ${n(t?.objectsIngested)} ingested, ${n(t?.objectsFailed)} failed`);
  expect(text).toContain(
    `rows         ${n(t?.rowsInserted)} inserted, ${n(t?.rowsDuplicate)} duplicates, ${n(t?.rowsRejected)} rejected`,
  );
  expect(text).toMatch(/queue {8}0 waiting, 0 in flight/);
  expect(text).toMatch(/DLQ {10}0 /);
  expect(text).toContain('events/status/wrong.csv  header_mismatch');
});

it('finds the queues among the CloudFormation outputs named in infra/stack.ts', () => {
  expect(
    queuesFromOutputs([
      { OutputKey: 'BucketName', OutputValue: 'b' },
      { OutputKey: 'QueueUrl', OutputValue: 'https://sqs/q' },
      { OutputKey: 'DeadLetterQueueUrl', OutputValue: 'https://sqs/dlq' },
    ]),
  ).toEqual({ queueUrl: 'https://sqs/q', dlqUrl: 'https://sqs/dlq' });
  expect(() => queuesFromOutputs([{ OutputKey: 'BucketName', OutputValue: 'b' }])).toThrow(/QueueUrl/);
});
