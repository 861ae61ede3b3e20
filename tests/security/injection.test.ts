import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { doc, ev, NOW } from '../fixtures/cases.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { type TestEndpoint, testEndpoint } from '../helpers/endpoint.ts';
import { recordingLogger } from '../helpers/factories.ts';
import { ingestOne } from '../helpers/ingest.ts';

/**
 * Injection strings are data: in every text column, in a rejected row's raw text and in the object
 * key itself, they are stored byte for byte and have no effect on the database.
 */

const PAYLOADS = [
  "'; DROP TABLE user_events; --",
  "Robert'); DELETE FROM ingested_objects; --",
  "' OR 1=1 --",
  '" OR ""="',
  '1; TRUNCATE rejected_events',
  "$1'); SELECT pg_sleep(10); --",
  '$$; DROP TABLE user_events; $$',
  "E'\\x27; DROP TABLE user_events; --",
  "\\.\nCOPY user_events FROM PROGRAM 'id'",
  "=cmd|' /C calc'!A0",
  '<script>alert(1)</script>',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal "${…}" is the payload here
  '${process.exit(1)}',
];

const BUCKET = 'injection';
let db: TestDatabase;
let aws: TestEndpoint;

beforeAll(async () => {
  [db, aws] = await Promise.all([freshDatabase(), testEndpoint()]);
  await aws.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});
afterAll(async () => {
  await aws?.stop();
  await db?.drop();
});

it('stores injection strings verbatim in every text column, in rejected raw text and in the key', async () => {
  const rows = PAYLOADS.map((p) =>
    ev({
      user_id: p.slice(0, 64),
      session_id: p.slice(0, 64),
      product_id: p.slice(0, 64),
      product_name: p,
      product_category: p,
    }),
  );
  const rejected = `${PAYLOADS[0]},${PAYLOADS[1]}`;
  const key = `events/2026/11/21/12/x'; DROP TABLE ingested_objects; --.csv`;
  const out = await aws.s3.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Buffer.from(doc([...rows, rejected])) }),
  );
  const deps = { s3: aws.s3, db: db.pool, logger: recordingLogger(), clock: () => NOW };
  const etag = (out.ETag ?? '').replace(/"/g, '');
  expect(await ingestOne(deps, { bucket: BUCKET, key, etag })).toMatchObject({
    status: 'ingested',
    rowsInserted: PAYLOADS.length,
    rowsRejected: 1,
  });

  for (const r of rows) {
    const { rows: stored } = await db.pool.query(
      'SELECT user_id, session_id, product_id, product_name, product_category, source_key FROM user_events WHERE event_id = $1',
      [r.event_id],
    );
    expect(stored).toEqual([
      {
        user_id: r.user_id,
        session_id: r.session_id,
        product_id: r.product_id,
        product_name: r.product_name,
        product_category: r.product_category,
        source_key: key,
      },
    ]);
  }
  const reject = await db.pool.query('SELECT raw_line, reason FROM rejected_events WHERE source_key = $1', [
    key,
  ]);
  expect(reject.rows).toEqual([{ raw_line: rejected, reason: 'wrong_column_count' }]);
  const ledger = await db.pool.query('SELECT key, status FROM ingested_objects');
  expect(ledger.rows).toEqual([{ key, status: 'ingested' }]);
  // Every table is still there and holds exactly what was ingested.
  const tables = await db.pool.query(
    "SELECT (SELECT count(*) FROM user_events)::int AS events, (SELECT count(*) FROM rejected_events)::int AS rejects, to_regclass('ingested_objects') IS NOT NULL AS ledger",
  );
  expect(tables.rows[0]).toEqual({ events: PAYLOADS.length, rejects: 1, ledger: true });
});
