import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestDeps } from '../../functions/ingest/ingest.ts';
import type { ObjectOutcome } from '../../functions/ingest/outcome.ts';
import type { ObjectRef } from '../../functions/ingest/s3-event.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { type TestEndpoint, testEndpoint } from '../helpers/endpoint.ts';
import { csv, recordingLogger, row } from '../helpers/factories.ts';
import { ingestMany, ingestOne } from '../helpers/ingest.ts';

/**
 * Several objects in one run (sharing transactions) must give exactly what ingesting them one
 * after another gives: same rows (first occurrence wins, also across files), same rejects, same
 * ledger, same results; and so must the same objects cut into many small chunks. A failure of one
 * object only fails that object.
 */

const BUCKET = 'batch-test';
const NOW = Date.parse('2026-11-21T12:00:00Z');
let one: TestDatabase;
let batched: TestDatabase;
let chunked: TestDatabase;
let aws: TestEndpoint;

beforeAll(async () => {
  [one, batched, chunked, aws] = await Promise.all([
    freshDatabase(),
    freshDatabase(),
    freshDatabase(),
    testEndpoint(),
  ]);
  await aws.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});
afterAll(async () => {
  await aws?.stop();
  await Promise.all([one?.drop(), batched?.drop(), chunked?.drop()]);
});

const deps = (db: TestDatabase, s3: S3Client = aws.s3): IngestDeps => ({
  s3,
  db: db.pool,
  logger: recordingLogger(),
  clock: () => NOW,
});

let n = 0;
async function put(body: string | Uint8Array): Promise<ObjectRef> {
  const key = `events/2026/11/21/12/b-${++n}.csv`;
  const out = await aws.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  return {
    bucket: BUCKET,
    key,
    etag: (out.ETag ?? '').replace(/"/g, ''),
    // The size, as notifications carry it: ingest plans its transactions from it.
    size: typeof body === 'string' ? Buffer.byteLength(body) : body.length,
    eventTime: new Date(NOW - 1000).toISOString(),
  };
}

/** Everything the two databases must agree on. */
async function snapshot(db: TestDatabase) {
  const q = async (sql: string) => (await db.pool.query(sql)).rows;
  return {
    events: await q(
      'SELECT event_id, source_key, source_line, event_type, product_price::text FROM user_events ORDER BY event_id',
    ),
    rejects: await q(
      'SELECT source_key, source_etag, line_number, reason, raw_line FROM rejected_events ORDER BY 1, 3',
    ),
    ledger: await q(
      `SELECT key, etag, status, error, rows_total, rows_inserted, rows_duplicate, rows_rejected
         FROM ingested_objects ORDER BY key`,
    ),
  };
}

const comparable = (r: ObjectOutcome) => ({
  ...r,
  durationMs: 0,
  latencyMs: 0,
  committedAt: 0,
  chunks: r.chunks > 0,
});

describe('ingest of a batch of objects', () => {
  it('gives the same rows, rejects, ledger and results as one object at a time, in any chunk size', async () => {
    const shared = Array.from({ length: 5 }, () => row());
    const early = await put(csv(Array.from({ length: 20 }, () => row())));
    const refs = [
      // Ingested before the batch in both databases: a redelivery inside the batch is skipped.
      early,
      await put(
        csv([...shared, shared[0] as Record<string, string>, ...Array.from({ length: 30 }, () => row())]),
      ),
      await put(csv([row({ event_id: 'not-a-uuid' }), row({ quantity: '0' }), 'a,"broken', row()])),
      // The same events again in a later file: duplicates across files of the batch.
      await put(csv([...shared.slice(2), row()])),
      await put(csv([row()], 'something,else')), // header mismatch: failed, rows rejected
      await put(csv([row({ event_type: 'PURCHASE', device_type: 'Tablet', product_price: '12.5' })])),
    ];
    for (const db of [one, batched, chunked]) await ingestOne(deps(db), early);

    const sequential: ObjectOutcome[] = [];
    for (const ref of refs) sequential.push(await ingestOne(deps(one), ref));
    const together = await ingestMany(deps(batched), refs);

    expect(together.map(comparable)).toEqual(sequential.map(comparable));
    expect(together.map((r) => r.status)).toEqual([
      'skipped',
      'ingested',
      'ingested',
      'ingested',
      'failed',
      'ingested',
    ]);
    const [a, b] = [await snapshot(one), await snapshot(batched)];
    expect(b).toEqual(a);

    // Cut into chunks of 7 records, objects span several transactions and share others: the same
    // rows, rejects, ledger and results again.
    const small = await ingestMany(deps(chunked), refs, { chunkRows: 7 });
    expect(small.map(comparable)).toEqual(sequential.map(comparable));
    expect(await snapshot(chunked)).toEqual(a);
    const spans = await chunked.pool.query<{ chunks: number }>(
      'SELECT max(chunks)::int AS chunks FROM ingested_objects',
    );
    expect(spans.rows[0]?.chunks).toBeGreaterThan(1);
    expect(b.events.length).toBe(20 + 35 + 1 + 1 + 1);
    // The invariant, per object.
    for (const l of b.ledger)
      expect(Number(l.rows_total)).toBe(
        Number(l.rows_inserted) + Number(l.rows_duplicate) + Number(l.rows_rejected),
      );

    // The whole batch again (a replay): every object is skipped and nothing changes.
    const replay = await ingestMany(deps(batched), refs);
    expect(replay.every((r) => r.status === 'skipped')).toBe(true);
    expect(await snapshot(batched)).toEqual(b);
  });

  it('writes the chunk again when a concurrent writer inserts one of its events after the probe', async () => {
    const contested = row();
    const refs = [await put(csv([row(), contested, row()])), await put(csv([row(), row()]))];
    // Another transaction holds the contested event_id, uncommitted: the batch's probe cannot see it
    // and its COPY waits on it; when the other commits, the COPY fails on the primary key.
    const other = await batched.pool.connect();
    try {
      await other.query('BEGIN');
      await other.query(
        `INSERT INTO user_events (event_id, event_type, user_id, session_id, product_id, product_name,
           product_category, product_price, quantity, device_type, event_timestamp, source_bucket, source_key, source_line)
         VALUES ($1, 'view', 'u', 's', 'p', 'n', 'c', 1, 1, 'mobile', now(), 'other', 'other', 1)`,
        [contested.event_id],
      );
      const batchDeps = deps(batched);
      const pending = ingestMany(batchDeps, refs);
      for (let i = 0; ; i++) {
        const { rows } = await batched.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        if ((rows[0]?.n ?? 0) > 0) break;
        if (i > 200) throw new Error('the batch never waited on the uncommitted row');
        await new Promise((r) => setTimeout(r, 25));
      }
      await other.query('COMMIT');
      const out = await pending;
      expect(out.map((r) => r.status)).toEqual(['ingested', 'ingested']);
      expect(out[0]).toMatchObject({ rowsTotal: 3, rowsInserted: 2, rowsDuplicate: 1 });
      const log = (batchDeps.logger as ReturnType<typeof recordingLogger>).lines;
      expect(log.some((l) => l.message.startsWith('chunk written again'))).toBe(true);
      const { rows } = await batched.pool.query('SELECT source_key FROM user_events WHERE event_id = $1', [
        contested.event_id,
      ]);
      expect(rows).toEqual([{ source_key: 'other' }]);
    } finally {
      other.release();
    }
  });

  it('fails only the object whose read fails, and records permanently bad objects as failed', async () => {
    const refs = [
      await put(csv([row(), row()])),
      await put(csv([row()])),
      await put(new Uint8Array([0x65, 0x76, 0xff, 0xfe, 0x0a])), // not UTF-8
      await put(csv([row(), row(), row()])),
    ];
    const flaky = refs[1]?.key;
    // An S3 that fails every read of one object with a 503: a transient failure of that object only.
    const s3 = {
      send: (command: unknown) => {
        if (command instanceof GetObjectCommand && command.input.Key === flaky)
          return Promise.reject(
            Object.assign(new Error('Slow Down'), { $metadata: { httpStatusCode: 503 } }),
          );
        return aws.s3.send(command as GetObjectCommand);
      },
    } as unknown as S3Client;
    const out = await ingestMany(deps(batched, s3), refs);
    expect(out.map((r) => r.status)).toEqual(['ingested', 'retry', 'failed', 'ingested']);
    const { rows } = await batched.pool.query<{ key: string; status: string }>(
      'SELECT key, status FROM ingested_objects WHERE key = ANY($1) ORDER BY key',
      [refs.map((r) => r.key)],
    );
    expect(rows.map((r) => r.status).sort()).toEqual(['failed', 'ingested', 'ingested']);
    expect(rows.some((r) => r.key === flaky)).toBe(false);

    // Redelivered once S3 is well again, the failed record's object goes in; the others are skipped.
    const again = await ingestMany(deps(batched), refs);
    expect(again.map((r) => r.status)).toEqual(['skipped', 'ingested', 'skipped', 'skipped']);
  });
});
