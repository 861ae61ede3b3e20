import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { PutBucketNotificationConfigurationCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGenerator } from '../../functions/generator/generate.ts';
import { type LocalPipeline, startLocalPipeline } from '../../scripts/local/runtime.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { csv, row, seededPart } from '../helpers/factories.ts';
import { freePort } from '../helpers/net.ts';
import { untilStatus } from '../helpers/wait.ts';

/**
 * The pipeline on a second S3/SQS implementation: moto_server, whose S3 sends its own notifications
 * to its SQS in its own format (eventTime without an offset, `/` encoded as %2F, no sequencer). The
 * local runtime configures the bucket notification as on LocalStack and AWS; rows must land exactly.
 */
const SEED = 8080;
const EVENTS = 300;
const RATES = { badRate: 0.02, duplicateRate: 0.02 };
const motoMissing = spawnSync('moto_server', ['--help'], { stdio: 'ignore' }).status !== 0;
if (motoMissing)
  console.warn('[moto test] skipped: moto_server is not on PATH (pip install "moto[server]" to run it)');

let moto: ChildProcess | undefined;
let endpointUrl: string;
let db: TestDatabase;
let pipeline: LocalPipeline | undefined;

beforeAll(async () => {
  if (motoMissing) return;
  const port = await freePort();
  moto = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  endpointUrl = `http://127.0.0.1:${port}`;
  db = await freshDatabase({ migrate: false });
  for (let i = 0; ; i++) {
    const up = await fetch(`${endpointUrl}/moto-api/`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (i > 300 || moto.exitCode !== null) throw new Error('moto_server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
}, 60_000);
afterAll(async () => {
  await pipeline?.stop();
  moto?.kill('SIGTERM');
  await db?.drop();
});

it.skipIf(motoMissing)(
  "ingests exactly from moto's own S3 notifications, odd keys included, and reconciles against its listing",
  async () => {
    pipeline = await startLocalPipeline({
      endpointUrl,
      databaseUrl: db.url,
      generator: { intervalMs: 300, eventsPerObject: EVENTS, seed: SEED, ...RATES },
      ingest: { batchingWindowMs: 100 },
      reconcile: { intervalMs: 0, graceSeconds: 0 },
      resources: { bucket: 'moto-bucket', queue: 'moto-queue', dlq: 'moto-dlq' },
    });
    expect(pipeline.embeddedEndpoint).toBe(false);
    await untilStatus(pipeline, (s) => s.generatedObjects >= 5, 60_000);
    await pipeline.stopSchedule();
    const generated = (await pipeline.status()).generatedObjects;

    // A key moto encodes: slashes as %2F, a space as +, a plus as %2B.
    const s3 = new S3Client({
      endpoint: endpointUrl,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const odd = row({ event_id: '8c2f4f1e-63a0-4e59-9f47-5c7a3c1d9a01' });
    const oddKey = 'events/2026/11/26/moto dir/a b+c.csv';
    await s3.send(new PutObjectCommand({ Bucket: 'moto-bucket', Key: oddKey, Body: csv([odd]) }));

    const s = await untilStatus(
      pipeline,
      (st) => st.objectsIngested === generated + 1 && st.queueDepth === 0 && st.inFlight === 0,
      60_000,
    );
    const replay = createGenerator({ seed: SEED, ...RATES });
    const expected = new Set<string>([seededPart(odd.event_id as string)]);
    let bad = 0;
    for (let i = 0; i < generated; i++) {
      const batch = replay.batch(EVENTS);
      for (const id of batch.validIds) expected.add(seededPart(id));
      bad += batch.bad;
    }
    const { rows } = await db.pool.query<{ event_id: string }>('SELECT event_id FROM user_events');
    expect(rows.length).toBe(expected.size);
    expect(rows.every((r) => expected.has(seededPart(r.event_id)))).toBe(true);
    expect(s.rowsRejected).toBe(bad);
    expect(s.rowsInserted + s.rowsDuplicate + s.rowsRejected).toBe(generated * EVENTS + 1);
    expect(s.dlqDepth).toBe(0);
    const oddRow = await db.pool.query('SELECT status, rows_inserted FROM ingested_objects WHERE key = $1', [
      oddKey,
    ]);
    expect(oddRow.rows).toEqual([{ status: 'ingested', rows_inserted: 1 }]);
    // The creation time came as moto's eventTime (no offset): read as UTC, it is seconds old, not hours.
    const ages = await db.pool.query<{ max: number }>(
      'SELECT max(abs(extract(epoch FROM now() - object_created_at)))::float AS max FROM ingested_objects',
    );
    expect(ages.rows[0]?.max).toBeLessThan(120);

    // Reconciliation against moto's listing: the etags it lists are the ones its notifications named.
    expect((await pipeline.reconcileOnce()).reconciled).toBe(0);
    // With the bucket's notification gone, an object written now is only found by reconciliation.
    await s3.send(
      new PutBucketNotificationConfigurationCommand({ Bucket: 'moto-bucket', NotificationConfiguration: {} }),
    );
    await s3.send(
      new PutObjectCommand({ Bucket: 'moto-bucket', Key: 'events/2026/11/26/lost.csv', Body: csv([row()]) }),
    );
    const summary = await pipeline.reconcileOnce();
    expect(summary).toMatchObject({ reconciled: 1, byReason: { unrecorded: 1 } });
    await untilStatus(pipeline, (st) => st.objectsIngested === generated + 2, 30_000);
    s3.destroy();
  },
  120_000,
);
