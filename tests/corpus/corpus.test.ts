import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgText } from '../../functions/ingest/chunk.ts';
import { createIngestHandler } from '../../functions/ingest/handler.ts';
import type { RecordsDeps } from '../../functions/ingest/records.ts';
import { EVENT_COLUMNS } from '../../functions/shared/event.ts';
import { observability } from '../../functions/shared/observability.ts';
import { ROOT } from '../../infra/paths.ts';
import { topology } from '../../infra/topology.ts';
import {
  type MessageContext,
  messageCases,
  NOW,
  type ObjectExpectation,
  objectCases,
} from '../fixtures/cases.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { type TestEndpoint, testEndpoint } from '../helpers/endpoint.ts';
import { recordingLogger, sqsRecord } from '../helpers/factories.ts';
import { handleRecord, ingestMany, ingestOne, testConfig } from '../helpers/ingest.ts';

/**
 * Runs every case of the bad-input corpus (tests/fixtures/cases.ts) through the real ingest path:
 * the body is PUT to the embedded S3 endpoint, then ingested (object cases) or handled as an SQS record
 * (message cases) runs against a fresh PostgreSQL database, and the ledger, `user_events` and
 * `rejected_events` are compared with the case's expected outcome.
 */

const BUCKET = 'corpus';
let db: TestDatabase;
let aws: TestEndpoint;
let deps: RecordsDeps;
let dlqUrl: string;

beforeAll(async () => {
  [db, aws] = await Promise.all([freshDatabase(), testEndpoint()]);
  await aws.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  dlqUrl = (await aws.sqs.send(new CreateQueueCommand({ QueueName: 'corpus-dlq' }))).QueueUrl as string;
  deps = {
    s3: aws.s3,
    sqs: aws.sqs,
    db: db.pool,
    logger: recordingLogger(),
    clock: () => NOW,
    config: testConfig(BUCKET, { dlqUrl }),
  };
});
afterAll(async () => {
  await aws?.stop();
  await db?.drop();
});

async function put(key: string, body: string | Uint8Array): Promise<string> {
  const out = await aws.s3.send(
    new PutObjectCommand({
      Bucket: BUCKET,
      Key: key,
      Body: typeof body === 'string' ? Buffer.from(body) : body,
    }),
  );
  return (out.ETag ?? '').replace(/"/g, '');
}

/** Stored columns as text, timestamps as UTC ISO with milliseconds, so cases compare strings. */
const STORED_SQL = `SELECT ${EVENT_COLUMNS.filter((c) => c !== 'event_timestamp')
  .map((c) => `${c}::text AS ${c}`)
  .join(', ')},
  to_char(event_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS event_timestamp,
  source_line::text AS source_line, extra::text AS extra
  FROM user_events WHERE event_id = $1::uuid AND source_key = $2`;

async function assertObject(key: string, etag: string, want: ObjectExpectation): Promise<void> {
  const ledger = await db.pool.query(
    'SELECT status, error, rows_total, rows_inserted, rows_duplicate, rows_rejected FROM ingested_objects WHERE bucket = $1 AND key = $2 AND etag = $3',
    [BUCKET, key, etag],
  );
  expect(ledger.rowCount).toBe(1);
  const l = ledger.rows[0];
  expect({
    status: l.status,
    error: l.error === null ? undefined : String(l.error).split(':')[0],
    rowsTotal: l.rows_total,
    inserted: l.rows_inserted,
    duplicate: l.rows_duplicate,
    rejected: l.rows_rejected,
  }).toEqual({
    status: want.status,
    error: want.error,
    rowsTotal: want.rowsTotal,
    inserted: want.inserted,
    duplicate: want.duplicate,
    rejected: want.rejected.length,
  });

  const events = await db.pool.query('SELECT count(*)::int AS n FROM user_events WHERE source_key = $1', [
    key,
  ]);
  expect(events.rows[0].n).toBe(want.inserted);

  const rejects = await db.pool.query(
    'SELECT line_number, reason, raw_line FROM rejected_events WHERE source_bucket = $1 AND source_key = $2 AND source_etag = $3 ORDER BY line_number',
    [BUCKET, key, etag],
  );
  expect(rejects.rows.map((r) => [r.line_number, r.reason])).toEqual(want.rejected.map(([n, r]) => [n, r]));
  for (const { line, raw } of want.raw ?? []) {
    expect(rejects.rows.find((r) => r.line_number === line)?.raw_line).toBe(raw);
  }
  for (const { event_id, values } of want.stored ?? []) {
    const stored = await db.pool.query(STORED_SQL, [event_id, key]);
    expect(stored.rowCount, `event ${event_id} stored`).toBe(1);
    expect(stored.rows[0]).toMatchObject(values);
  }
}

describe('bad-input corpus: objects', () => {
  it('has at least 30 cases in all, with unique ids', () => {
    const ids = [...objectCases, ...messageCases].map((c) => c.id);
    expect(ids.length).toBeGreaterThanOrEqual(30);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('every case is listed in docs/test-cases.md', () => {
    const docs = readFileSync(path.join(ROOT, 'docs', 'test-cases.md'), 'utf8');
    const missing = [...objectCases, ...messageCases].filter((c) => !docs.includes(`| \`${c.id}\` |`));
    expect(missing.map((c) => c.id)).toEqual([]);
  });

  for (const c of objectCases) {
    it(`${c.id}: ${c.title}`, async () => {
      const { body, expect: want } = c.build();
      const key = `events/2026/11/21/12/corpus-${c.id}.csv`;
      const etag = await put(key, body);
      const result = await ingestOne(deps, {
        bucket: BUCKET,
        key,
        etag,
        eventTime: new Date(NOW - 1000).toISOString(),
      });
      expect(result).toMatchObject({
        status: want.status,
        rowsTotal: want.rowsTotal,
        rowsInserted: want.inserted,
        rowsDuplicate: want.duplicate,
        rowsRejected: want.rejected.length,
      });
      if (want.error) expect(result.error).toMatch(new RegExp(`^${want.error}`));
      await assertObject(key, etag, want);
      // Ingesting the same version again changes nothing.
      expect(await ingestOne(deps, { bucket: BUCKET, key, etag })).toMatchObject({ status: 'skipped' });
      await assertObject(key, etag, want);
    });
  }
});

describe('bad-input corpus: objects in SQS-sized batches (the handler ingests a batch together)', () => {
  it('every case gives the same outcome inside a batch as alone, and bad objects do not affect the others', async () => {
    const built = await Promise.all(
      objectCases.map(async (c) => {
        const { body, expect: want } = c.build();
        const key = `events/2026/11/21/13/batch-${c.id}.csv`;
        return { id: c.id, key, etag: await put(key, body), want };
      }),
    );
    const size = topology.ingest.batchSize;
    for (let i = 0; i < built.length; i += size) {
      const batch = built.slice(i, i + size);
      const outcomes = await ingestMany(
        deps,
        batch.map((b) => ({
          bucket: BUCKET,
          key: b.key,
          etag: b.etag,
          eventTime: new Date(NOW).toISOString(),
        })),
      );
      for (const [j, b] of batch.entries()) {
        const o = outcomes[j];
        expect(o, b.id).not.toBeInstanceOf(Error);
        expect(o, b.id).toMatchObject({
          key: b.key,
          status: b.want.status,
          rowsTotal: b.want.rowsTotal,
          rowsInserted: b.want.inserted,
          rowsDuplicate: b.want.duplicate,
          rowsRejected: b.want.rejected.length,
        });
        await assertObject(b.key, b.etag, b.want);
      }
    }
  });
});

const ctx: MessageContext = {
  bucket: BUCKET,
  put: (key, body) => put(key, body),
  remove: async (key) => {
    await aws.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
  },
};

describe('bad-input corpus: messages', () => {
  for (const c of messageCases) {
    it(`${c.id}: ${c.title}`, async () => {
      const { body, expect: deliveries } = await c.build(ctx);
      for (const want of deliveries) {
        if (want.kind === 'objects') await want.before?.();
        const record = sqsRecord(body);
        const outcome = await handleRecord(deps, record);
        expect(outcome.kind).toBe(want.kind);
        if (want.kind === 'ignored') expect(outcome).toEqual({ kind: 'ignored', reason: want.reason });
        if (want.kind === 'dead-lettered') {
          expect(outcome.kind === 'dead-lettered' && outcome.reason).toMatch(want.reason);
          const got = await aws.sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: dlqUrl,
              MessageAttributeNames: ['All'],
              MaxNumberOfMessages: 10,
              WaitTimeSeconds: 1,
            }),
          );
          const m = got.Messages?.find(
            (x) => x.MessageAttributes?.sourceMessageId?.StringValue === record.messageId,
          );
          expect(m?.Body).toBe(body);
          expect(m?.MessageAttributes?.reason?.StringValue).toMatch(want.reason);
        }
        if (want.kind === 'objects') {
          const objects = outcome.kind === 'objects' ? outcome.objects : [];
          expect(
            objects.map((o) => ({
              key: o.key,
              status: o.status,
              inserted: o.rowsInserted,
              ...(o.error ? { error: o.error.split(':')[0] } : {}),
            })),
          ).toEqual(want.objects);
          for (const o of want.objects) {
            const { rows } = await db.pool.query(
              'SELECT count(*)::int AS n FROM ingested_objects WHERE bucket = $1 AND key = $2',
              [BUCKET, pgText(o.key)],
            );
            expect(rows[0].n).toBeGreaterThanOrEqual(1);
          }
        }
      }
    });
  }

  it('every ledger row adds up after the whole corpus', async () => {
    const { rows } = await db.pool.query(
      'SELECT count(*)::int AS n FROM ingested_objects WHERE rows_total <> rows_inserted + rows_duplicate + rows_rejected',
    );
    expect(rows[0].n).toBe(0);
  });
});

describe('bad-input corpus: messages through the Lambda handler, all in one SQS batch', () => {
  it('acknowledges every record (no batchItemFailures), dead-letters the poison ones, and the ledger matches', async () => {
    // The handler as Lambda runs it, made by its factory over this test's endpoint, database and DLQ.
    const { logger, metrics } = observability({
      serviceName: 'ecommerce-pipeline-ingest',
      namespace: 'EcommercePipeline',
    });
    const handler = createIngestHandler({
      s3: aws.s3,
      sqs: aws.sqs,
      db: db.pool,
      logger,
      metrics,
      clock: Date.now,
      config: testConfig(BUCKET, { dlqUrl }),
    });
    const built = [];
    // Cases that change the bucket between deliveries cannot share one batch; they run above.
    for (const c of messageCases) {
      const b = { id: c.id, ...(await c.build(ctx)) };
      if (!b.expect.some((e) => e.kind === 'objects' && e.before)) built.push(b);
    }
    const records = built.flatMap((b) => b.expect.map(() => sqsRecord(b.body)));
    const context = {
      awsRequestId: 'corpus',
      functionName: 'ingest',
      getRemainingTimeInMillis: () => 60_000,
    } as unknown as Context;
    const response = await handler({ Records: records }, context);
    expect(response.batchItemFailures).toEqual([]);

    for (const b of built) {
      for (const want of b.expect) {
        if (want.kind !== 'objects') continue;
        for (const o of want.objects) {
          if (o.status === 'skipped') continue;
          const { rows } = await db.pool.query<{
            status: string;
            error: string | null;
            rows_inserted: number;
          }>(
            'SELECT status, error, rows_inserted FROM ingested_objects WHERE bucket = $1 AND key = $2 AND status = $3',
            [BUCKET, pgText(o.key), o.status],
          );
          expect(rows.length, `${b.id}: ${o.key} ${o.status}`).toBeGreaterThanOrEqual(1);
          if (o.error) expect(rows[0]?.error).toMatch(new RegExp(`^${o.error}`));
          if (o.status === 'ingested') expect(rows.map((r) => r.rows_inserted)).toContain(o.inserted);
        }
      }
    }
    const deadLettered = built.filter((b) => b.expect.some((e) => e.kind === 'dead-lettered'));
    const got = new Set<string>();
    for (;;) {
      const out = await aws.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: dlqUrl,
          MessageAttributeNames: ['All'],
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          VisibilityTimeout: 60,
        }),
      );
      if (!out.Messages?.length) break;
      for (const m of out.Messages)
        if (records.some((r) => r.messageId === m.MessageAttributes?.sourceMessageId?.StringValue))
          got.add(m.Body ?? '');
    }
    expect([...got].sort()).toEqual(deadLettered.map((b) => b.body).sort());
  });
});
