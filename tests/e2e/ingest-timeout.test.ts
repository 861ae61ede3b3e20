import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGenerator } from '../../functions/generator/generate.ts';
import { putObject } from '../../functions/shared/upload.ts';
import { topology } from '../../infra/topology.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { type NpmStart, npmStart, tempDataDir } from '../helpers/npm-start.ts';

/**
 * `npm start -- --ingest-timeout <s>`: the poller's Lambda-like context gets that timeout, so an
 * object too large for one invocation is committed chunk by chunk and continued in new invocations,
 * as on AWS, and still lands exactly.
 */
const ROWS = 200_000;
let db: TestDatabase;
let data: { dir: string; remove(): Promise<void> };
let app: NpmStart | undefined;

beforeAll(async () => {
  [db, data] = await Promise.all([freshDatabase({ migrate: false }), tempDataDir('timeout-')]);
});
afterAll(async () => {
  app?.killGroup();
  await app?.exited;
  await db?.drop();
  await data?.remove();
});

it('a large object outlives a 2 s invocation: continued, committed in chunks, exact', async () => {
  app = npmStart(
    [
      '--data-dir',
      data.dir,
      '--port',
      '0',
      '--interval',
      '0',
      '--dashboard-port',
      'off',
      '--ingest-timeout',
      '2',
    ],
    { DATABASE_URL: db.url },
  );
  await app.waitFor(/ready in/);
  const generator = createGenerator({ seed: 2, badRate: 0.001, duplicateRate: 0 });
  const batch = generator.batch(ROWS);
  const s3 = new S3Client({
    endpoint: app.endpoint(),
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const key = `${topology.notification.prefix}2026/11/26/12/large.csv`;
  await putObject(s3, { bucket: topology.names.bucket, key, body: batch.csv });
  s3.destroy();

  const deadline = Date.now() + 120_000;
  for (;;) {
    const { rows } = await db.pool.query('SELECT status FROM ingested_objects WHERE key = $1', [key]);
    if (rows[0]?.status === 'ingested') break;
    if (Date.now() > deadline) throw new Error(`not ingested: ${JSON.stringify(rows)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const { rows } = await db.pool.query(
    'SELECT rows_total, rows_inserted, rows_rejected, chunks, continuations FROM ingested_objects WHERE key = $1',
    [key],
  );
  expect(rows[0]).toMatchObject({
    rows_total: ROWS,
    rows_inserted: batch.validIds.length,
    rows_rejected: batch.bad,
  });
  expect(rows[0].continuations).toBeGreaterThanOrEqual(1);
  expect(rows[0].chunks).toBeGreaterThanOrEqual(2);
  const events = await db.pool.query('SELECT count(*)::int AS n FROM user_events');
  expect(events.rows[0].n).toBe(batch.validIds.length);
  // The continuation is counted where the user looks: the objectsContinued metric.
  expect(app.stdout()).toContain('"objectsContinued"');
  app.signal('SIGINT');
  expect(await app.exited).toBe(0);
}, 180_000);
