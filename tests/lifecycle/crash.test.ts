import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { expect, it } from 'vitest';
import { createGenerator, objectKey } from '../../functions/generator/generate.ts';
import { putObject } from '../../functions/shared/upload.ts';
import { topology } from '../../infra/topology.ts';
import { idleInstanceArgs, lifecycleFixture } from '../helpers/lifecycle.ts';
import { type NpmStart, processesMentioning } from '../helpers/npm-start.ts';

/**
 * kill -9 of npm start's whole process group while 300 objects are queued, then npm start again:
 * every object ends in the ledger with exact counts, no row twice, no row lost. The objects and
 * queued messages live in the endpoint's files, the rows in PostgreSQL (which outlives the kill in
 * its own process group and is stopped by the next start); messages in flight at the kill come
 * back at the next start.
 */
const OBJECTS = 300;
const EVENTS = 1000;
const SEED = 300_300;
const RATES = { badRate: 0.01, duplicateRate: 0.01 };

const { cleanups, dataDir, started } = lifecycleFixture();

/** The latest status line's numbers. */
function status(p: NpmStart) {
  const line =
    p
      .stderr()
      .trim()
      .split('\n')
      .findLast((l) => l.includes('| queue ')) ?? '';
  const n = (re: RegExp) => Number(re.exec(line)?.[1] ?? Number.NaN);
  return {
    ingested: n(/ingested \d+ rows\/(\d+) objects/),
    queue: n(/queue (\d+) \(/),
    inFlight: n(/\(\+(\d+) in flight\)/),
  };
}

it('kill -9 with 300 objects queued, then npm start: all 300 in the ledger with exact counts', async () => {
  const dir = await dataDir();
  // Status lines every 0.3 s: the kill below waits on them, and should come while most objects still queue.
  const args = await idleInstanceArgs(dir, 0.3);
  const first = started([...args, '--concurrency', '1']);
  await first.waitFor(/ready in/, 90_000);

  // 300 objects, uploaded eight at a time while the first run ingests.
  const s3 = new S3Client({
    endpoint: first.endpoint(),
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const generator = createGenerator({ seed: SEED, ...RATES });
  const expected = new Set<string>();
  let bad = 0;
  const bodies = Array.from({ length: OBJECTS }, (_, i) => {
    const batch = generator.batch(EVENTS);
    for (const id of batch.validIds) expected.add(id);
    bad += batch.bad;
    return { key: objectKey(topology.notification.prefix, new Date(), `crash-${i}`), body: batch.csv };
  });
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < OBJECTS; i = next++) {
        const o = bodies[i] as { key: string; body: string };
        await putObject(s3, { bucket: topology.names.bucket, key: o.key, body: o.body });
      }
    }),
  );
  s3.destroy();

  // Every notification is in the queue (waiting or in flight) or done: kill the whole group now.
  const deadline = Date.now() + 60_000;
  for (let s = status(first); !(s.ingested + s.queue + s.inFlight >= OBJECTS); s = status(first)) {
    if (Date.now() > deadline) throw new Error(`notifications not queued: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  first.killGroup();
  await first.exited;
  const atKill = status(first);
  // A real backlog: most objects were still queued when the group died.
  expect(atKill.ingested).toBeLessThan(OBJECTS / 2);
  console.info(
    `kill -9 with ${atKill.ingested} objects ingested, ${atKill.queue} queued, ${atKill.inFlight} in flight`,
  );

  const second = started([...args, '--concurrency', '2']);
  await second.waitFor(/ready in/, 90_000);
  const db = new pg.Pool({
    connectionString: (await readFile(path.join(dir, 'database-url'), 'utf8')).trim(),
  });
  db.on('error', () => {}); // its idle connections end when the server stops
  cleanups.push(() => db.end().catch(() => {}));
  const ingested = async () =>
    Number(
      (await db.query("SELECT count(*) AS n FROM ingested_objects WHERE status = 'ingested'")).rows[0].n,
    );
  const until = Date.now() + 180_000;
  while ((await ingested()) < OBJECTS) {
    if (Date.now() > until) {
      const { rows: by } = await db.query(
        'SELECT status, count(*)::int AS n FROM ingested_objects GROUP BY 1',
      );
      throw new Error(
        `only ${await ingested()} of ${OBJECTS} objects ingested; ledger ${JSON.stringify(by)}; second run: ${JSON.stringify(status(second))}\n${second.stderr().slice(-3000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  // Exact: every object once in the ledger with all its rows, every valid event once, every bad row once.
  const ledger = await db.query<{
    objects: number;
    other: number;
    total: number;
    inserted: number;
    dup: number;
    rejected: number;
  }>(
    `SELECT count(*)::int AS objects,
            count(*) FILTER (WHERE status <> 'ingested' OR rows_total <> ${EVENTS})::int AS other,
            sum(rows_total)::int AS total, sum(rows_inserted)::int AS inserted,
            sum(rows_duplicate)::int AS dup, sum(rows_rejected)::int AS rejected
       FROM ingested_objects`,
  );
  const validRows = OBJECTS * EVENTS - bad;
  expect(ledger.rows[0]).toEqual({
    objects: OBJECTS,
    other: 0,
    total: OBJECTS * EVENTS,
    inserted: expected.size,
    dup: validRows - expected.size,
    rejected: bad,
  });
  const events = await db.query<{ event_id: string }>('SELECT event_id FROM user_events');
  expect(events.rows.length).toBe(expected.size);
  expect(events.rows.every((r) => expected.has(r.event_id))).toBe(true);
  const rejects = await db.query('SELECT count(*)::int AS n FROM rejected_events');
  expect(rejects.rows[0].n).toBe(bad);
  expect(second.stderr()).toMatch(/stopping the PostgreSQL \(pid \d+\) left running/);
  await db.end();

  second.signal('SIGINT');
  expect(await second.exited).toBe(0);
  expect(await processesMentioning(dir)).toEqual([]);
}, 400_000);
