import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGenerator, objectKey } from '../../functions/generator/generate.ts';
import {
  type ChaosEndpoint,
  chaosEndpoint,
  INGEST_APPLICATION,
  putWithRetry,
  startWorker,
  stopWorker,
  until,
  type Worker,
  type WorkerSettings,
} from '../../scripts/dev/chaos/harness.ts';
import { type Manifest, verify } from '../../scripts/dev/chaos/verify.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';

/**
 * SIGTERM during a batch leaves no partial object and loses no message. A worker process
 * (scripts/dev/worker.ts, the real ingest handler under the Lambda-style poller) is
 * stopped while it has a batch in flight and an object's transaction open; then every object is
 * either complete or untouched, every message is either deleted (its object committed) or still
 * in the queue, and a new worker finishes the rest exactly.
 */
const OBJECTS = 24;
const EVENTS = 4000;
let db: TestDatabase;
let aws: ChaosEndpoint;
const workers: Worker[] = [];

beforeAll(async () => {
  // Stranded messages are checked right after the stop (none may be in flight then); the
  // visibility timeout only paces retries of records that fail transiently on a loaded machine.
  [db, aws] = await Promise.all([
    freshDatabase(),
    chaosEndpoint({ visibilityTimeoutSeconds: 20, maxReceiveCount: 1000 }),
  ]);
});
afterAll(async () => {
  for (const w of workers)
    if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  await aws?.stop();
  await db?.drop();
});

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(sql, params);
  return Number(rows[0]?.n ?? 0);
}

it('SIGTERM mid-batch: the batch in flight commits, the process exits 0, nothing partial, nothing lost', async () => {
  const settings: WorkerSettings = {
    endpointUrl: aws.proxy.url,
    databaseUrl: db.url,
    resources: aws.resources,
    batchSize: 10,
    batchingWindowMs: 500,
    // One poll loop: while it handles a batch it is not also holding an unfinished receive.
    concurrency: 1,
  };
  const first = startWorker(settings);
  workers.push(first);
  await first.ready;

  const manifest: Manifest = { bucket: aws.resources.bucket, objects: [], poison: [] };
  const generator = createGenerator({ seed: 77, badRate: 0.01, duplicateRate: 0.01 });
  for (let i = 0; i < OBJECTS; i++) {
    const batch = generator.batch(EVENTS);
    const key = objectKey('events/', new Date(), `graceful-${i}`);
    manifest.objects.push({ key, events: batch.events, validIds: batch.validIds, badRows: batch.badRows });
    await putWithRetry(aws.direct.s3, manifest.bucket, key, batch.csv);
  }

  // The signal: the worker reports a batch in flight and has an object's transaction open.
  await until(
    'a batch in flight with an open transaction',
    async () => {
      if (!first.busy) return undefined;
      const open = await count(
        `SELECT count(*) AS n FROM pg_stat_activity
          WHERE application_name = $1 AND xact_start IS NOT NULL AND datname = current_database()`,
        [INGEST_APPLICATION],
      );
      return open > 0 ? true : undefined;
    },
    60_000,
    5,
  );
  const committedBefore = await count('SELECT count(*) AS n FROM ingested_objects');
  expect(committedBefore).toBeLessThan(OBJECTS);

  const stoppedAt = Date.now();
  const { code } = await stopWorker(first, 60_000);
  expect(code).toBe(0);
  const stopMs = Date.now() - stoppedAt;

  // No partial object: every ledger row adds up and matches the rows that name its object.
  const ledger = await count('SELECT count(*) AS n FROM ingested_objects');
  expect(ledger).toBeGreaterThan(committedBefore); // the object in flight was finished, not dropped
  expect(
    await count(
      `SELECT count(*) AS n FROM ingested_objects o
         LEFT JOIN (SELECT source_key, count(*) AS rows FROM user_events GROUP BY 1) u ON u.source_key = o.key
         LEFT JOIN (SELECT source_key, count(*) AS rows FROM rejected_events GROUP BY 1) r ON r.source_key = o.key
        WHERE o.status <> 'ingested' OR o.rows_total <> ${EVENTS}
           OR coalesce(u.rows, 0) <> o.rows_inserted OR coalesce(r.rows, 0) <> o.rows_rejected`,
    ),
  ).toBe(0);
  expect(
    await count(
      `SELECT count(*) AS n FROM (SELECT source_key FROM user_events UNION SELECT source_key FROM rejected_events) s
        WHERE NOT EXISTS (SELECT 1 FROM ingested_objects o WHERE o.key = s.source_key)`,
    ),
  ).toBe(0);
  // No message lost or stranded: each object's message was deleted (committed) or is still waiting.
  const depth = await aws.depth(aws.resources.queueUrl);
  expect(depth.inFlight).toBe(0);
  expect(ledger + depth.visible).toBe(OBJECTS);

  // A new worker finishes the rest; the whole run then matches the manifest exactly.
  const second = startWorker(settings);
  workers.push(second);
  let last = '';
  await until(
    'the second worker to drain the queue',
    async () => {
      const q = await aws.depth(aws.resources.queueUrl);
      const n = await count('SELECT count(*) AS n FROM ingested_objects');
      last = `ledger ${n}/${OBJECTS}, queue ${JSON.stringify(q)}, worker batches ${second.batches}`;
      return n === OBJECTS && q.visible === 0 && q.inFlight === 0 ? true : undefined;
    },
    90_000,
    100,
  ).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; last: ${last}`);
  });
  expect((await stopWorker(second)).code).toBe(0);
  const q = await aws.depth(aws.resources.queueUrl);
  const verdict = await verify(
    db.pool,
    manifest,
    { sqs: aws.direct.sqs, url: aws.resources.dlqUrl },
    q.visible + q.inFlight,
  );
  expect(verdict.problems).toEqual([]);
  expect(verdict.events.lost).toBe(0);
  expect(verdict.events.duplicated).toBe(0);
  expect(verdict.objects.ledgerRows).toBe(OBJECTS);
  expect(stopMs).toBeLessThan(60_000);

  // The check itself must be able to fail: take one event away and it reports exactly that.
  await db.pool.query('DELETE FROM user_events WHERE event_id = $1', [manifest.objects[0]?.validIds[0]]);
  const tampered = await verify(db.pool, manifest, { sqs: aws.direct.sqs, url: aws.resources.dlqUrl }, 0);
  expect(tampered.events.lost).toBe(1);
  expect(tampered.objects.wrongCounts).toBe(1);
  expect(tampered.problems.length).toBeGreaterThan(0);
}, 150_000);
