import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGenerator } from '../../functions/generator/generate.ts';
import { type LocalPipeline, startLocalPipeline } from '../../scripts/local/runtime.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { seededPart } from '../helpers/factories.ts';
import { untilStatus } from '../helpers/wait.ts';

const SEED = 4242;
const EVENTS = 400;
const RATES = { badRate: 0.03, duplicateRate: 0.03 };
let db: TestDatabase;
let pipeline: LocalPipeline;

beforeAll(async () => {
  db = await freshDatabase({ migrate: false });
  pipeline = await startLocalPipeline({
    port: 0,
    databaseUrl: db.url,
    generator: { intervalMs: 300, eventsPerObject: EVENTS, seed: SEED, ...RATES },
    ingest: { batchingWindowMs: 100 },
    resources: { bucket: 'e2e-bucket', queue: 'e2e-queue', dlq: 'e2e-dlq' },
  });
});
afterAll(async () => {
  await pipeline?.stop();
  await db?.drop();
});

it('runs generator → bucket → notification → queue → ingest → PostgreSQL, each valid event exactly once', async () => {
  await untilStatus(pipeline, (s) => s.generatedObjects >= 5);
  await pipeline.stopSchedule();
  const generated = (await pipeline.status()).generatedObjects;
  const s = await untilStatus(
    pipeline,
    (st) => st.objectsIngested === generated && st.queueDepth === 0 && st.inFlight === 0,
  );

  // Replay the seeded generator to know, independently of the ingest code, which ids were valid.
  const replay = createGenerator({ seed: SEED, ...RATES });
  const expected = new Set<string>();
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
  expect(s.rowsInserted + s.rowsDuplicate + s.rowsRejected).toBe(generated * EVENTS);
  expect(s.dlqDepth).toBe(0);

  const ledger = await db.pool.query(
    'SELECT count(*)::int AS bad FROM ingested_objects WHERE rows_total <> rows_inserted + rows_duplicate + rows_rejected',
  );
  expect(ledger.rows[0].bad).toBe(0);
  const summary = await db.pool.query('SELECT sum(events)::int AS n FROM event_summary');
  expect(summary.rows[0].n).toBe(expected.size);
});
