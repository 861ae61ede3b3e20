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

/** Columns of a stage, in the order the COPY text is written (see `stageLines` in ingest.ts). */
const STAGE_COLUMNS = `line_number integer NOT NULL,
  reason text,
  raw_line text,
  event_id uuid, event_type text, user_id text, session_id text, product_id text,
  product_name text, product_category text, product_price numeric(10, 2), quantity integer,
  device_type text, event_timestamp timestamptz`;

const STAGE_DDL = `CREATE TEMP TABLE IF NOT EXISTS ingest_stage (${STAGE_COLUMNS}) ON COMMIT DELETE ROWS`;

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

/*
 * Several objects in one transaction (see functions/ingest/batch.ts). The stage gains the object's
 * ordinal in the batch, filled from a transaction-local setting changed before each object's COPY,
 * so the COPY text stays the single-object one.
 */

const BATCH_STAGE_DDL = `CREATE TEMP TABLE IF NOT EXISTS ingest_batch_stage (
  obj integer NOT NULL DEFAULT current_setting('ingest.obj')::integer,
  ${STAGE_COLUMNS}
) ON COMMIT DELETE ROWS`;

const BATCH_COPY_SQL = `COPY ingest_batch_stage (line_number, reason, raw_line, ${cols}) FROM STDIN (FORMAT csv)`;

/** The batch's objects as a relation: ordinal n ↔ bucket, key, etag. */
const BATCH_OBJECTS = `unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS o(bucket, key, etag, n)`;

// Within a file the first line of an event_id wins, across the batch's files the earlier file
// (as the per-object path would do when the objects are ingested one after another). Ordered by
// event_id, like the single-object merge, so concurrent transactions lock keys in the same order.
const BATCH_MERGE_EVENTS_SQL = `WITH inserted AS (
  INSERT INTO user_events (${cols}, source_bucket, source_key, source_line)
  SELECT ${EVENT_COLUMNS.map((c) => `s.${c}`).join(', ')}, o.bucket, o.key, s.line_number
    FROM ingest_batch_stage s JOIN ${BATCH_OBJECTS} ON o.n = s.obj
   WHERE s.reason IS NULL
   ORDER BY s.event_id, s.obj, s.line_number
  ON CONFLICT (event_id) DO NOTHING
  RETURNING source_bucket, source_key)
SELECT source_bucket AS bucket, source_key AS key, count(*)::int AS inserted FROM inserted GROUP BY 1, 2`;

const BATCH_MERGE_REJECTS_SQL = `INSERT INTO rejected_events (source_bucket, source_key, source_etag, line_number, reason, raw_line)
  SELECT o.bucket, o.key, o.etag, s.line_number, s.reason, s.raw_line
    FROM ingest_batch_stage s JOIN ${BATCH_OBJECTS} ON o.n = s.obj
   WHERE s.reason IS NOT NULL
  ON CONFLICT (source_bucket, source_key, source_etag, line_number) DO NOTHING`;

const batchStaged = new WeakSet<pg.ClientBase>();

/** Create the connection's batch stage once (outside a transaction, as {@link ensureStage}). */
export async function ensureBatchStage(client: pg.ClientBase): Promise<void> {
  if (batchStaged.has(client)) return;
  await client.query(BATCH_STAGE_DDL);
  batchStaged.add(client);
}

type Versioned = ObjectRef & { etag: string };
const columns = (refs: readonly Versioned[]) => [
  refs.map((r) => r.bucket),
  refs.map((r) => r.key),
  refs.map((r) => r.etag),
];

/** Which of these object versions the ledger already holds (one indexed read for the batch). */
export async function ingestedAmong(client: pg.ClientBase, refs: readonly Versioned[]): Promise<Set<string>> {
  const res = await client.query<{ bucket: string; key: string; etag: string }>(
    `SELECT i.bucket, i.key, i.etag FROM ingested_objects i JOIN ${BATCH_OBJECTS}
        ON i.bucket = o.bucket AND i.key = o.key AND i.etag = o.etag`,
    columns(refs),
  );
  return new Set(res.rows.map((r) => versionId(r)));
}

/** One string per object version, for sets and maps. */
export function versionId(ref: { bucket: string; key: string; etag: string }): string {
  return JSON.stringify([ref.bucket, ref.key, ref.etag]);
}

/**
 * Claim several object versions inside the open transaction (see {@link claimObject}), in key order
 * so two batches claiming overlapping objects cannot deadlock. Returns the ones claimed.
 */
export async function claimObjects(client: pg.ClientBase, refs: readonly Versioned[]): Promise<Set<string>> {
  const res = await client.query<{ bucket: string; key: string; etag: string }>(
    `INSERT INTO ingested_objects (bucket, key, etag, size, status, object_created_at)
     SELECT o.bucket, o.key, o.etag, o.size, 'ingested', o.created
       FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[])
            AS o(bucket, key, etag, size, created)
      ORDER BY o.bucket, o.key, o.etag
     ON CONFLICT (bucket, key, etag) DO NOTHING
     RETURNING bucket, key, etag`,
    [...columns(refs), refs.map((r) => r.size ?? null), refs.map((r) => r.eventTime ?? null)],
  );
  return new Set(res.rows.map((r) => versionId(r)));
}

/** Stream one object's COPY text into the batch stage as object number `n` (1-based). */
export async function copyToBatchStage(client: pg.ClientBase, n: number, source: Readable): Promise<void> {
  await client.query(`SELECT set_config('ingest.obj', $1, true)`, [String(n)]);
  await pipeline(source, client.query(copyFrom(BATCH_COPY_SQL)));
}

/** Merge the batch stage; returns rows inserted per object (by bucket and key). */
export async function mergeBatchStage(
  client: pg.ClientBase,
  refs: readonly Versioned[],
): Promise<Map<string, number>> {
  const events = await client.query<{ bucket: string; key: string; inserted: number }>(
    BATCH_MERGE_EVENTS_SQL,
    columns(refs),
  );
  await client.query(BATCH_MERGE_REJECTS_SQL, columns(refs));
  return new Map(events.rows.map((r) => [JSON.stringify([r.bucket, r.key]), r.inserted]));
}

/** Fill in the claimed ledger rows of a batch in one statement (see {@link completeObject}). */
export async function completeObjects(
  client: pg.ClientBase,
  entries: readonly { ref: Versioned; entry: LedgerEntry }[],
): Promise<void> {
  const refs = entries.map((e) => e.ref);
  const pick = <K extends keyof LedgerEntry>(k: K) => entries.map((e) => e.entry[k]);
  await client.query(
    `UPDATE ingested_objects i
        SET status = u.status, error = u.error, rows_total = u.total, rows_inserted = u.inserted,
            rows_duplicate = u.duplicate, rows_rejected = u.rejected, ingested_at = clock_timestamp()
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::int[], $9::int[])
            AS u(bucket, key, etag, status, error, total, inserted, duplicate, rejected)
      WHERE i.bucket = u.bucket AND i.key = u.key AND i.etag = u.etag`,
    [
      ...columns(refs),
      pick('status'),
      pick('error'),
      pick('rowsTotal'),
      pick('rowsInserted'),
      pick('rowsDuplicate'),
      pick('rowsRejected'),
    ],
  );
}

const DIRECT_EVENTS_COPY = `COPY user_events (${cols}, source_bucket, source_key, source_line) FROM STDIN (FORMAT csv)`;
const DIRECT_REJECTS_COPY = `COPY rejected_events (source_bucket, source_key, source_etag, line_number, reason, raw_line)
  FROM STDIN (FORMAT csv)`;

/** The event_ids among `ids` that `user_events` already holds (one index scan for the batch). */
export async function presentEventIds(client: pg.ClientBase, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const res = await client.query<{ id: string }>(
    'SELECT event_id::text AS id FROM user_events WHERE event_id = ANY($1::uuid[])',
    [ids],
  );
  return new Set(res.rows.map((r) => r.id));
}

/**
 * COPY lines straight into `user_events` (event columns, source bucket, key, line) or
 * `rejected_events` (bucket, key, etag, line, reason, raw). Any conflict fails the statement: the
 * caller only sends rows it has checked, and falls back to the merge when a concurrent writer won.
 */
export async function copyDirect(
  client: pg.ClientBase,
  table: 'user_events' | 'rejected_events',
  lines: readonly string[],
): Promise<void> {
  if (lines.length === 0) return;
  const sql = table === 'user_events' ? DIRECT_EVENTS_COPY : DIRECT_REJECTS_COPY;
  await pipeline(
    (function* () {
      let out = '';
      for (const line of lines) {
        out += line;
        if (out.length >= 256 * 1024) {
          yield out;
          out = '';
        }
      }
      if (out) yield out;
    })(),
    client.query(copyFrom(sql)),
  );
}
