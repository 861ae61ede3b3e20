import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { EVENT_COLUMNS } from '../shared/event.ts';
import type { ObjectRef } from './s3-event.ts';

/**
 * SQL of the ingest path. Every statement is parameterized; the only identifiers built into SQL
 * text are the fixed column names of {@link EVENT_COLUMNS}.
 *
 * One object = one transaction: claim the ledger row, COPY every row (valid or rejected) into a
 * temporary stage, merge the valid ones into `user_events` with ON CONFLICT DO NOTHING, the rejected
 * ones into `rejected_events`, and fill in the ledger counts. COPY keeps Node's share of the CPU
 * small (design §5); the stage lets PostgreSQL do the idempotent merge set-based.
 */

const cols = EVENT_COLUMNS.join(', ');

/** Columns of the stage, in the order the COPY text is written (see `stageLine` in ingest.ts). */
const STAGE_DDL = `CREATE TEMP TABLE IF NOT EXISTS ingest_stage (
  line_number integer NOT NULL,
  reason text,
  raw_line text,
  event_id uuid, event_type text, user_id text, session_id text, product_id text,
  product_name text, product_category text, product_price numeric(10, 2), quantity integer,
  device_type text, event_timestamp timestamptz
) ON COMMIT DELETE ROWS`;

const COPY_SQL = `COPY ingest_stage (line_number, reason, raw_line, ${cols}) FROM STDIN (FORMAT csv)`;

// Rows of one file are merged in line order, so within a file the first occurrence of an
// event_id wins, deterministically.
const MERGE_EVENTS_SQL = `INSERT INTO user_events (${cols}, source_bucket, source_key, source_line)
  SELECT ${cols}, $1, $2, line_number FROM ingest_stage WHERE reason IS NULL ORDER BY event_id, line_number
  ON CONFLICT (event_id) DO NOTHING`;

const MERGE_REJECTS_SQL = `INSERT INTO rejected_events (source_bucket, source_key, source_etag, line_number, reason, raw_line)
  SELECT $1, $2, $3, line_number, reason, raw_line FROM ingest_stage WHERE reason IS NOT NULL
  ON CONFLICT (source_bucket, source_key, source_etag, line_number) DO NOTHING`;

/** Temp tables are per connection: remember which pooled clients already have the stage. */
const staged = new WeakSet<pg.ClientBase>();

/**
 * Claim an object version inside the open transaction. The insert takes the row lock on the
 * ledger key: a concurrent worker on the same object blocks here until we commit (then sees the row
 * and skips) or roll back (then claims it itself). Returns false when the object is already done.
 */
export async function claimObject(
  client: pg.ClientBase,
  ref: ObjectRef & { etag: string },
): Promise<boolean> {
  const res = await client.query(
    `INSERT INTO ingested_objects (bucket, key, etag, size, status, object_created_at)
     VALUES ($1, $2, $3, $4, 'ingested', $5)
     ON CONFLICT (bucket, key, etag) DO NOTHING`,
    [ref.bucket, ref.key, ref.etag, ref.size ?? null, ref.eventTime ?? null],
  );
  return res.rowCount === 1;
}

/** True when the ledger already holds this object version (cheap pre-check before any work). */
export async function isIngested(client: pg.ClientBase, ref: ObjectRef & { etag: string }): Promise<boolean> {
  const res = await client.query(
    'SELECT 1 FROM ingested_objects WHERE bucket = $1 AND key = $2 AND etag = $3',
    [ref.bucket, ref.key, ref.etag],
  );
  return res.rowCount === 1;
}

/**
 * Create the connection's stage once. Must run outside a transaction: created inside one that
 * later rolls back, the table would vanish while this connection still believed it had it.
 */
export async function ensureStage(client: pg.ClientBase): Promise<void> {
  if (staged.has(client)) return;
  await client.query(STAGE_DDL);
  staged.add(client);
}

/** Stream COPY text (CSV lines of the stage's columns) into the stage (see {@link ensureStage}). */
export async function copyToStage(client: pg.ClientBase, source: Readable): Promise<void> {
  await pipeline(source, client.query(copyFrom(COPY_SQL)));
}

/** Counts the merge produced. */
export interface MergeResult {
  inserted: number;
  rejectsStored: number;
}

/** Move the staged rows into their tables. */
export async function mergeStage(
  client: pg.ClientBase,
  ref: ObjectRef & { etag: string },
): Promise<MergeResult> {
  const events = await client.query(MERGE_EVENTS_SQL, [ref.bucket, ref.key]);
  const rejects = await client.query(MERGE_REJECTS_SQL, [ref.bucket, ref.key, ref.etag]);
  return { inserted: events.rowCount ?? 0, rejectsStored: rejects.rowCount ?? 0 };
}

/** The ledger's final word on an object. */
export interface LedgerEntry {
  status: 'ingested' | 'failed';
  error: string | null;
  rowsTotal: number;
  rowsInserted: number;
  rowsDuplicate: number;
  rowsRejected: number;
}

/** Fill in the claimed ledger row; returns the commit-side timestamp (ms) for latency figures. */
export async function completeObject(
  client: pg.ClientBase,
  ref: ObjectRef & { etag: string },
  entry: LedgerEntry,
): Promise<void> {
  await client.query(
    `UPDATE ingested_objects
        SET status = $4, error = $5, rows_total = $6, rows_inserted = $7, rows_duplicate = $8,
            rows_rejected = $9, ingested_at = clock_timestamp()
      WHERE bucket = $1 AND key = $2 AND etag = $3`,
    [
      ref.bucket,
      ref.key,
      ref.etag,
      entry.status,
      entry.error,
      entry.rowsTotal,
      entry.rowsInserted,
      entry.rowsDuplicate,
      entry.rowsRejected,
    ],
  );
}

/** Record an object that failed as a whole (missing, not UTF-8), in a transaction of its own. */
export async function recordFailedObject(
  client: pg.ClientBase,
  ref: ObjectRef & { etag: string },
  error: string,
): Promise<boolean> {
  const res = await client.query(
    `INSERT INTO ingested_objects (bucket, key, etag, size, status, error, object_created_at, ingested_at)
     VALUES ($1, $2, $3, $4, 'failed', $5, $6, clock_timestamp())
     ON CONFLICT (bucket, key, etag) DO NOTHING`,
    [ref.bucket, ref.key, ref.etag, ref.size ?? null, error, ref.eventTime ?? null],
  );
  return res.rowCount === 1;
}
