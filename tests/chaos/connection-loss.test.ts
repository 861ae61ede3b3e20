import { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { IngestDeps } from '../../functions/ingest/ingest.ts';
import { TransientError } from '../../functions/shared/errors.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { csv, recordingLogger, row } from '../helpers/factories.ts';
import { ingestOne } from '../helpers/ingest.ts';

/**
 * Found by the chaos run: a PostgreSQL connection that dies while ingest holds it between queries
 * raised an unhandled 'error' event on the pg client and crashed the whole worker process. It must
 * instead fail only that object, transiently, and leave nothing behind.
 */
const APP = 'connection-loss-test';
const NOW = Date.parse('2026-11-21T12:00:00Z');
let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await freshDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 2, application_name: APP });
  pool.on('error', () => {}); // idle clients, as the handler's pool does
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

it('a connection terminated while ingest holds it fails that object transiently, without crashing, and a retry completes it', {
  timeout: 20_000,
}, async () => {
  const rows = Array.from({ length: 20 }, () => row());
  let terminate = true;
  // The pool ingest uses, except that the first connection it checks out dies while ingest holds
  // it: before its first query runs, the server terminates it and the client sees it end.
  const flaky = Object.create(pool) as pg.Pool;
  const checkout = async () => {
    const client = await pool.connect();
    if (!terminate) return client;
    terminate = false;
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    client.query = (async (...args: unknown[]) => {
      client.query = query as typeof client.query;
      const ended = new Promise((r) => client.once('end', r));
      await db.pool.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [APP],
      );
      // The signal: the held client has seen its connection end (and its error, just before).
      await ended;
      return query(...args);
    }) as typeof client.query;
    return client;
  };
  // pool.query checks out with a callback: that path is left alone.
  flaky.connect = ((callback?: Parameters<typeof pool.connect>[0]) =>
    callback ? pool.connect(callback) : checkout()) as typeof pool.connect;
  const s3 = {
    send: async (command: unknown) => {
      if (!(command instanceof GetObjectCommand)) throw new Error('unexpected S3 call');
      return { Body: Readable.from([Buffer.from(csv(rows))]) };
    },
  } as unknown as S3Client;
  const deps: IngestDeps = { s3, db: flaky, logger: recordingLogger(), clock: () => NOW };
  const ref = { bucket: 'b', key: 'events/2026/11/21/12/lost.csv', etag: 'e1' };

  await expect(ingestOne(deps, ref)).rejects.toBeInstanceOf(TransientError);
  const ledger = await db.pool.query('SELECT * FROM ingested_objects');
  expect(ledger.rowCount).toBe(0);

  const retried = await ingestOne(deps, ref);
  expect(retried).toMatchObject({ status: 'ingested', rowsTotal: 20, rowsInserted: 20 });
  const stored = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM user_events');
  expect(Number(stored.rows[0]?.n)).toBe(20);
});
