import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGenerator, objectKey } from '../../functions/generator/generate.ts';
import { encode } from '../../functions/generator/publish.ts';
import { type LocalPipeline, startLocalPipeline } from '../../scripts/local/runtime.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { untilStatus } from '../helpers/wait.ts';

/**
 * gzip and zstd objects through the real notification path of the embedded pipeline: their
 * `.csv.gz` / `.csv.zst` keys pass the notification filter, the bridge notifies, the poller invokes
 * ingest, and every row lands exactly as from a plain object.
 */

const BUCKET = 'compressed-e2e';
let db: TestDatabase;
let pipeline: LocalPipeline;
let s3: S3Client;

beforeAll(async () => {
  db = await freshDatabase({ migrate: false });
  pipeline = await startLocalPipeline({
    port: 0,
    databaseUrl: db.url,
    generator: { intervalMs: 0 },
    ingest: { batchingWindowMs: 100 },
    resources: { bucket: BUCKET, queue: 'compressed-e2e-q', dlq: 'compressed-e2e-dlq' },
  });
  s3 = new S3Client({
    region: 'us-east-1',
    endpoint: pipeline.endpointUrl,
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
});
afterAll(async () => {
  s3?.destroy();
  await pipeline?.stop();
  await db?.drop();
});

it('ingests .csv.gz and .csv.zst objects with exact counts', async () => {
  const gen = createGenerator({ seed: 99, badRate: 0.05, duplicateRate: 0 });
  const expected = { rows: 0, valid: 0, bad: 0 };
  for (const [i, compress] of (['gzip', 'zstd', 'gzip'] as const).entries()) {
    const batch = gen.batch(700);
    expected.rows += batch.events;
    expected.valid += batch.validIds.length;
    expected.bad += batch.bad;
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: objectKey('events/', new Date(), `c${i}`, compress),
        Body: encode(batch.csv, compress),
        ContentEncoding: compress,
      }),
    );
  }
  const s = await untilStatus(
    pipeline,
    (st) => st.objectsIngested === 3 && st.queueDepth === 0 && st.inFlight === 0,
  );
  expect(s.rowsInserted).toBe(expected.valid);
  expect(s.rowsRejected).toBe(expected.bad);
  const { rows } = await db.pool.query(`SELECT key, encoding, status FROM ingested_objects ORDER BY key`);
  expect(rows.map((r) => [r.key.slice(-7), r.encoding, r.status])).toEqual([
    ['.csv.gz', 'gzip', 'ingested'],
    ['csv.zst', 'zstd', 'ingested'],
    ['.csv.gz', 'gzip', 'ingested'],
  ]);
});
