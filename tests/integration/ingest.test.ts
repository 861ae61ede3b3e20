import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestDeps } from '../../functions/ingest/ingest.ts';
import { BadMessageError, TransientError } from '../../functions/shared/errors.ts';
import { encodeS3Key } from '../../functions/shared/s3-notification.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { type TestEndpoint, testEndpoint } from '../helpers/endpoint.ts';
import { csv, recordingLogger, row, s3Notification, sqsRecord } from '../helpers/factories.ts';
import { handleRecord, ingestOne, testConfig } from '../helpers/ingest.ts';

const BUCKET = 'ingest-test';
const NOW = Date.parse('2026-11-21T12:00:00Z');
let db: TestDatabase;
let aws: TestEndpoint;
let deps: IngestDeps;
let dlqUrl: string;

beforeAll(async () => {
  [db, aws] = await Promise.all([freshDatabase(), testEndpoint()]);
  await aws.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  dlqUrl = (await aws.sqs.send(new CreateQueueCommand({ QueueName: 'ingest-test-dlq' }))).QueueUrl as string;
  deps = { s3: aws.s3, db: db.pool, logger: recordingLogger(), clock: () => NOW };
});
afterAll(async () => {
  await aws?.stop();
  await db?.drop();
});

let n = 0;
/** PUT a body and return the object's ref as a notification would give it. */
async function put(body: string | Uint8Array, key = `events/2026/11/21/12/t-${++n}.csv`) {
  const out = await aws.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  return {
    bucket: BUCKET,
    key,
    etag: (out.ETag ?? '').replace(/"/g, ''),
    eventTime: new Date(NOW - 1000).toISOString(),
  };
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(sql, params);
  return Number(rows[0]?.n ?? 0);
}

describe('ingest (real PostgreSQL + S3 wire protocol)', () => {
  it('turns an object into rows and a ledger row that adds up', async () => {
    const rows = Array.from({ length: 50 }, () => row());
    const ref = await put(csv(rows));
    const result = await ingestOne(deps, ref);
    expect(result).toMatchObject({
      status: 'ingested',
      rowsTotal: 50,
      rowsInserted: 50,
      rowsDuplicate: 0,
      rowsRejected: 0,
    });
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    const stored = await db.pool.query(
      'SELECT * FROM user_events WHERE source_key = $1 ORDER BY source_line',
      [ref.key],
    );
    expect(stored.rowCount).toBe(50);
    expect(stored.rows[0]).toMatchObject({
      event_id: rows[0]?.event_id,
      product_price: '129.99',
      quantity: 1,
      source_bucket: BUCKET,
      source_line: 2,
    });
    const ledger = await db.pool.query('SELECT * FROM ingested_objects WHERE key = $1', [ref.key]);
    expect(ledger.rows[0]).toMatchObject({
      status: 'ingested',
      rows_total: 50,
      rows_inserted: 50,
      etag: ref.etag,
    });
  });

  it('stores each event once: duplicates in a file, across files, and a redelivered notification', async () => {
    const a = row();
    const b = row();
    const first = await put(csv([a, b, a]));
    const second = await put(csv([b, row()]));
    expect(await ingestOne(deps, first)).toMatchObject({
      rowsTotal: 3,
      rowsInserted: 2,
      rowsDuplicate: 1,
    });
    expect(await ingestOne(deps, second)).toMatchObject({
      rowsTotal: 2,
      rowsInserted: 1,
      rowsDuplicate: 1,
    });
    expect(await ingestOne(deps, first)).toMatchObject({ status: 'skipped', rowsInserted: 0 });
    expect(
      await count('SELECT count(*) AS n FROM user_events WHERE event_id = ANY($1::uuid[])', [
        [a.event_id, b.event_id],
      ]),
    ).toBe(2);
    expect(
      await count('SELECT count(*) AS n FROM ingested_objects WHERE key = ANY($1)', [
        [first.key, second.key],
      ]),
    ).toBe(2);
  });

  it('keeps bad rows with reason, raw text and line number, and the counts add up', async () => {
    const ref = await put(
      csv([
        row(),
        row({ quantity: '0' }),
        'broken,"quote"x,line',
        row({ event_type: 'teleport' }),
        row({ product_name: "Robert'); DROP TABLE user_events;--" }),
      ]),
    );
    const result = await ingestOne(deps, ref);
    expect(result).toMatchObject({ rowsTotal: 5, rowsInserted: 2, rowsRejected: 3 });
    const rejects = await db.pool.query(
      'SELECT line_number, reason, raw_line FROM rejected_events WHERE source_key = $1 ORDER BY line_number',
      [ref.key],
    );
    expect(rejects.rows.map((r) => [r.line_number, r.reason])).toEqual([
      [3, 'invalid_quantity'],
      [4, 'malformed_csv_line'],
      [5, 'unknown_event_type'],
    ]);
    expect(rejects.rows[1].raw_line).toBe('broken,"quote"x,line');
    expect(
      await count(
        "SELECT count(*) AS n FROM user_events WHERE product_name = 'Robert''); DROP TABLE user_events;--'",
      ),
    ).toBe(1);
    expect(
      await count(
        'SELECT count(*) AS n FROM ingested_objects WHERE rows_total <> rows_inserted + rows_duplicate + rows_rejected',
      ),
    ).toBe(0);
  });

  it('records a whole-file failure for a wrong header, counting its rows as rejected', async () => {
    const ref = await put('id,type\n1,view\n2,view\n');
    expect(await ingestOne(deps, ref)).toMatchObject({ status: 'failed', rowsTotal: 2, rowsRejected: 2 });
    expect(
      await count(
        "SELECT count(*) AS n FROM rejected_events WHERE source_key = $1 AND reason = 'header_mismatch'",
        [ref.key],
      ),
    ).toBe(2);
  });

  it('records objects that are gone or not UTF-8 as failed, and the connection stays usable', async () => {
    const gone = await put(csv([row()]));
    await aws.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: gone.key }));
    expect(await ingestOne(deps, gone)).toMatchObject({
      status: 'missing',
      error: expect.stringMatching(/^object_missing/),
    });

    const latin1 = Buffer.concat([Buffer.from(csv([row()])), Buffer.from([0xe9, 0x0a])]);
    const bad = await put(latin1);
    expect(await ingestOne(deps, bad)).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^invalid_utf8/),
    });
    expect(await count('SELECT count(*) AS n FROM user_events WHERE source_key = $1', [bad.key])).toBe(0);
    // Every pooled connection still works after a COPY was aborted mid-stream.
    const ok = await put(csv([row()]));
    expect(await ingestOne(deps, ok)).toMatchObject({ status: 'ingested', rowsInserted: 1 });
  });

  it('ingests the same object once when two workers race on it', async () => {
    const ref = await put(csv(Array.from({ length: 2000 }, () => row())));
    const results = await Promise.all([ingestOne(deps, ref), ingestOne(deps, ref), ingestOne(deps, ref)]);
    expect(results.map((r) => r.status).sort()).toEqual(['ingested', 'skipped', 'skipped']);
    expect(await count('SELECT count(*) AS n FROM user_events WHERE source_key = $1', [ref.key])).toBe(2000);
  });

  it('throws TransientError when the database is unreachable, so SQS redelivers', async () => {
    const down = new pg.Pool({ host: '127.0.0.1', port: 1, connectionTimeoutMillis: 500 });
    const ref = await put(csv([row()]));
    await expect(ingestOne({ ...deps, db: down }, ref)).rejects.toBeInstanceOf(TransientError);
    await down.end();
  });
});

describe('records of an SQS batch', () => {
  it('decodes URL-encoded keys (spaces, plus, non-ASCII) before GetObject', async () => {
    const ref = await put(csv([row()]), 'events/2026/11/a b+c é.csv');
    const outcome = await handleRecord(
      { ...deps, sqs: aws.sqs, config: testConfig(BUCKET) },
      sqsRecord(s3Notification(BUCKET, encodeS3Key(ref.key), ref.etag)),
    );
    expect(outcome).toMatchObject({
      kind: 'objects',
      objects: [{ key: 'events/2026/11/a b+c é.csv', status: 'ingested', rowsInserted: 1 }],
    });
  });

  it('acknowledges s3:TestEvent without work', async () => {
    const body = JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: BUCKET });
    expect(
      await handleRecord({ ...deps, sqs: aws.sqs, config: testConfig(BUCKET) }, sqsRecord(body)),
    ).toEqual({
      kind: 'ignored',
      reason: 's3:TestEvent',
    });
  });

  it('sends a non-JSON body to the DLQ with its reason, or throws when there is no DLQ URL', async () => {
    const record = sqsRecord('this is not json');
    await expect(
      handleRecord({ ...deps, sqs: aws.sqs, config: testConfig(BUCKET) }, record),
    ).rejects.toBeInstanceOf(BadMessageError);
    const outcome = await handleRecord(
      { ...deps, sqs: aws.sqs, config: testConfig(BUCKET, { dlqUrl }) },
      record,
    );
    expect(outcome).toMatchObject({ kind: 'dead-lettered' });
    const got = await aws.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MessageAttributeNames: ['All'], WaitTimeSeconds: 1 }),
    );
    expect(got.Messages?.[0]?.Body).toBe('this is not json');
    expect(got.Messages?.[0]?.MessageAttributes?.reason?.StringValue).toMatch(/not JSON/);
  });
});
