import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createGenerator, objectKey } from '../../functions/generator/generate.ts';
import {
  adminPool,
  type ChaosDatabase,
  type ChaosEndpoint,
  chaosDatabase,
  chaosEndpoint,
  putWithRetry,
  startWorker,
  stopWorker,
  until,
  type WorkerSettings,
} from '../../scripts/dev/chaos/harness.ts';

/**
 * SIGKILL the ingest worker again and again while it is in the middle of one object that spans
 * many chunks; a fresh worker each time resumes from the ledger's checkpoint. At the end the object
 * holds exactly its valid rows and its rejects — none lost, none twice — and its counts add up.
 */

const ROWS = 60_000;
const CHUNK_ROWS = 4_000;
const KILLS = 4;
let db: ChaosDatabase;
let aws: ChaosEndpoint;

beforeAll(async () => {
  db = await chaosDatabase({ serverUrl: inject('adminDatabaseUrl'), dataDir: '' });
  // A killed worker's message comes back after 2 s.
  aws = await chaosEndpoint({ visibilityTimeoutSeconds: 2, maxReceiveCount: 1000 });
});
afterAll(async () => {
  await aws?.stop();
  await db?.close();
});

it('a multi-chunk object survives repeated SIGKILLs of its worker: exact rows, no duplicates, counts add up', {
  timeout: 120_000,
}, async () => {
  const admin = adminPool(db.url);
  const settings: WorkerSettings = {
    endpointUrl: aws.endpoint.url,
    databaseUrl: db.url,
    resources: aws.resources,
    batchSize: 1,
    batchingWindowMs: 0,
    concurrency: 1,
    chunkRows: CHUNK_ROWS,
  };
  try {
    const gen = createGenerator({ seed: 717, badRate: 0.01, duplicateRate: 0.01 });
    const batch = gen.batch(ROWS);
    const key = objectKey('events/', new Date(), 'kill-me');
    await putWithRetry(aws.direct.s3, aws.resources.bucket, key, batch.csv);

    const ledger = async () =>
      (
        await admin.query<{ status: string; chunks: number; resume_offset: string }>(
          'SELECT status, chunks, resume_offset FROM ingested_objects WHERE key = $1',
          [key],
        )
      ).rows[0];
    let chunksAtKill = 0;
    for (let k = 0; k < KILLS; k++) {
      const worker = startWorker(settings);
      await worker.ready;
      // Kill it once it has committed at least one more chunk of the object, mid-object.
      const seen = await until(
        `chunk ${chunksAtKill + 1} committed`,
        async () => {
          const l = await ledger();
          return l && l.status === 'in_progress' && l.chunks > chunksAtKill ? l : undefined;
        },
        60_000,
        5,
      );
      worker.child.kill('SIGKILL');
      await worker.exited;
      chunksAtKill = seen.chunks;
    }
    expect(chunksAtKill).toBeGreaterThanOrEqual(KILLS);
    expect(chunksAtKill).toBeLessThan(ROWS / CHUNK_ROWS);

    const last = startWorker(settings);
    const done = await until(
      'the object ingested',
      async () => ((await ledger())?.status === 'ingested' ? true : undefined),
      60_000,
      20,
    );
    expect(done).toBe(true);
    await stopWorker(last);

    const { rows: l } = await admin.query(
      'SELECT rows_total, rows_inserted, rows_duplicate, rows_rejected FROM ingested_objects WHERE key = $1',
      [key],
    );
    expect(l[0]).toEqual({
      rows_total: ROWS,
      rows_inserted: batch.validIds.length,
      rows_duplicate: ROWS - batch.validIds.length - batch.bad,
      rows_rejected: batch.bad,
    });
    const { rows: events } = await admin.query<{ event_id: string }>(
      'SELECT event_id FROM user_events WHERE source_key = $1',
      [key],
    );
    expect(events.length).toBe(batch.validIds.length);
    expect(new Set(events.map((e) => e.event_id))).toEqual(new Set(batch.validIds));
    const { rows: rejects } = await admin.query<{ line_number: number; reason: string }>(
      'SELECT line_number, reason FROM rejected_events WHERE source_key = $1 ORDER BY line_number',
      [key],
    );
    expect(rejects).toEqual(batch.badRows.map((b) => ({ line_number: b.line, reason: b.reason })));
  } finally {
    await admin.end();
  }
});
