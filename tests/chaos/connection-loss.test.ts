import { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type IngestDeps, ingestObject } from '../../functions/ingest/ingest.ts';
import { TransientError } from '../../functions/shared/errors.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { csv, recordingLogger, row } from '../helpers/factories.ts';

/**
 * Found by the chaos run: a PostgreSQL connection that dies while ingest holds it between queries
 * (here: while it reads the object from S3, inside the object's transaction) raised an unhandled
 * 'error' event on the pg client and crashed the whole worker process. It must instead fail only
 * that object, transiently, and leave nothing behind.
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

it('a connection terminated mid-object fails that object transiently, without crashing, and a retry completes it', {
  timeout: 20_000,
}, async () => {
  const rows = Array.from({ length: 20 }, () => row());
  let held: pg.PoolClient | undefined;
  pool.on('acquire', (client) => {
    held = client;
  });
  let terminate = true;
  const s3 = {
    send: async (command: unknown) => {
      if (!(command instanceof GetObjectCommand)) throw new Error('unexpected S3 call');
      if (terminate) {
        terminate = false;
        const client = held;
        if (!client) throw new Error('no client checked out');
        const ended = new Promise((r) => client.once('end', r));
        await db.pool.query(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
          [APP],
        );
        // The signal: the held client has seen its connection end (and its error, just before).
        await ended;
      }
      return { Body: Readable.from([Buffer.from(csv(rows))]) };
    },
  } as unknown as S3Client;
  const deps: IngestDeps = { s3, db: pool, logger: recordingLogger(), clock: () => NOW };
  const ref = { bucket: 'b', key: 'events/2026/11/21/12/lost.csv', etag: 'e1' };

  await expect(ingestObject(deps, ref)).rejects.toBeInstanceOf(TransientError);
  const ledger = await db.pool.query('SELECT * FROM ingested_objects');
  expect(ledger.rowCount).toBe(0);

  const retried = await ingestObject(deps, ref);
  expect(retried).toMatchObject({ status: 'ingested', rowsTotal: 20, rowsInserted: 20 });
  const stored = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM user_events');
  expect(Number(stored.rows[0]?.n)).toBe(20);
});
