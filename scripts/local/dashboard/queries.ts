import type pg from 'pg';

/**
 * Read-only SQL behind the local dashboard and `npm run status`. Every statement is parameterized
 * and bounded: the ledger and rejects are read through their time indexes with a LIMIT or a time
 * window, totals come from tables the schema's triggers maintain, and latency percentiles look only
 * at recent rows, so a dashboard refreshing every second stays cheap however large `user_events` grows.
 */

/** Anything that can run a query: a pool or a client. */
export type Queryable = Pick<pg.Pool, 'query'>;

/** Ledger totals: what has been committed, per the `ingested_objects` ledger, and what reconciliation sent. */
export interface LedgerCounts {
  objectsIngested: number;
  objectsFailed: number;
  /** Failed objects whose share of rejected rows was above the budget (`reject_budget_exceeded`). */
  objectsBudgetFailed: number;
  /** Partly committed objects (a large object between chunks, or one whose continuation is due). */
  objectsInProgress: number;
  /** Objects not in the bucket when their notification came (ingested if they appear later). */
  objectsMissing: number;
  /** Notifications sent by reconciliation (objects whose notification was lost), all time. */
  objectsReconciled: number;
  rowsInserted: number;
  rowsDuplicate: number;
  rowsRejected: number;
}

/**
 * Totals over the whole ledger, at a cost that does not grow with it: finished objects from the
 * `ledger_totals` the ledger's triggers maintain (a few rows per status), unfinished ones (few by
 * nature) through the partial index on open objects, plus the count of reconciled objects (one row
 * per notification reconciliation sent: rare by design).
 */
export async function readCounts(db: Queryable): Promise<LedgerCounts> {
  const { rows } = await db.query<Record<string, string>>(
    `WITH every AS (
       SELECT status, sum(objects) AS objects, sum(budget_failed) AS budget, sum(rows_inserted) AS inserted,
              sum(rows_duplicate) AS duplicate, sum(rows_rejected) AS rejected
         FROM ledger_totals GROUP BY status
       UNION ALL
       SELECT status, count(*), 0, sum(rows_inserted), sum(rows_duplicate), sum(rows_rejected)
         FROM ingested_objects WHERE status IN ('in_progress', 'missing') GROUP BY status
     )
     SELECT coalesce(sum(objects) FILTER (WHERE status = 'ingested'), 0) AS ingested,
            coalesce(sum(objects) FILTER (WHERE status = 'failed'), 0) AS failed,
            coalesce(sum(budget), 0) AS budget,
            coalesce(sum(objects) FILTER (WHERE status = 'in_progress'), 0) AS in_progress,
            coalesce(sum(objects) FILTER (WHERE status = 'missing'), 0) AS missing,
            (SELECT count(*) FROM reconciled_objects) AS reconciled,
            coalesce(sum(inserted), 0) AS inserted,
            coalesce(sum(duplicate), 0) AS duplicate,
            coalesce(sum(rejected), 0) AS rejected
       FROM every`,
  );
  const r = rows[0] ?? {};
  return {
    objectsIngested: Number(r.ingested ?? 0),
    objectsFailed: Number(r.failed ?? 0),
    objectsBudgetFailed: Number(r.budget ?? 0),
    objectsInProgress: Number(r.in_progress ?? 0),
    objectsMissing: Number(r.missing ?? 0),
    objectsReconciled: Number(r.reconciled ?? 0),
    rowsInserted: Number(r.inserted ?? 0),
    rowsDuplicate: Number(r.duplicate ?? 0),
    rowsRejected: Number(r.rejected ?? 0),
  };
}

/** One object reconciliation sent to ingest again, and what became of it. */
export interface ReconciledRow {
  bucket: string;
  key: string;
  reason: string;
  reconciledAt: string;
  /** The object's ledger status now (`null`: no ledger row yet). */
  status: string | null;
}

/** The most recent notifications sent by reconciliation (a backward scan of its time index). */
export async function readLatestReconciled(db: Queryable, limit = 10): Promise<ReconciledRow[]> {
  const { rows } = await db.query<{
    bucket: string;
    key: string;
    reason: string;
    reconciled_at: Date;
    status: string | null;
  }>(
    `SELECT r.bucket, r.key, r.reason, r.reconciled_at, l.status
       FROM (SELECT * FROM reconciled_objects ORDER BY reconciled_at DESC, id DESC LIMIT $1) r
       LEFT JOIN ingested_objects l ON l.bucket = r.bucket AND l.key = r.key AND l.etag = r.etag
      ORDER BY r.reconciled_at DESC, r.id DESC`,
    [limit],
  );
  return rows.map((r) => ({
    bucket: r.bucket,
    key: r.key,
    reason: r.reason,
    reconciledAt: r.reconciled_at.toISOString(),
    status: r.status,
  }));
}

/** Percentiles of one latency, in milliseconds; `null` when the window holds no rows. */
export interface Percentiles {
  n: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** The latencies the pipeline reports (`ingestLatencyMs`, `eventLagMs`) over a recent window. */
export interface Latency {
  windowMinutes: number;
  /** S3 object created (notification `eventTime`) → its transaction committed, per object. */
  objectToCommit: Percentiles;
  /** `event_timestamp` → committed, per event. */
  eventToCommit: Percentiles;
  /**
   * Ingest's own time, per object: the start of the transaction that committed it (the ledger
   * claim, `first_seen_at`) → its ledger row filled in (`ingested_at`): read, validate, COPY, merge.
   * Objects of one SQS batch share a transaction, so this is the batch's processing time, like the
   * "processing time" of Spark's streaming UI.
   */
  processing: Percentiles;
}

/** Pages at the end of `user_events` the event latency is read from (8 KiB each: about 20,000 events). */
export const RECENT_PAGES = 500;

const PERCENTILES = `count(*) AS n,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
  percentile_cont(0.9) WITHIN GROUP (ORDER BY ms) AS p90,
  percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99,
  max(ms) AS max`;

/**
 * Latency percentiles over the last `windowMinutes`. Objects are picked by `ingested_at` (indexed).
 * Events are read from the newest end of `user_events` only: rows are appended, so the table's last
 * {@link RECENT_PAGES} pages hold its newest events, and a TID range scan reads just those (a
 * bounded sample, whatever the table's size or the ingest rate), keeping the ones in the window.
 * `user_events.ingested_at` has no index, and adding one would tax every insert.
 */
export async function readLatency(db: Queryable, windowMinutes = 15): Promise<Latency> {
  const { rows: size } = await db.query<{ pages: string }>(
    `SELECT pg_relation_size('user_events') / current_setting('block_size')::bigint AS pages`,
  );
  // A constant first page, so the planner sees how few pages the range covers. The same bound as a
  // subquery inside the statement (one round trip less) was tried: a dashboard refresh at 50M rows
  // then took 284 ms against 30.6 ms on the empty table.
  const firstPage = Math.max(0, Number(size[0]?.pages ?? 0) - RECENT_PAGES);
  const [objects, events, processing] = await Promise.all([
    db.query<Record<string, string | null>>(
      `SELECT ${PERCENTILES} FROM (
         SELECT extract(epoch FROM ingested_at - object_created_at) * 1000 AS ms
           FROM ingested_objects
          WHERE ingested_at >= now() - make_interval(mins => $1)
            AND status = 'ingested' AND object_created_at IS NOT NULL) AS o`,
      [windowMinutes],
    ),
    db.query<Record<string, string | null>>(
      `SELECT ${PERCENTILES} FROM (
         SELECT extract(epoch FROM ingested_at - event_timestamp) * 1000 AS ms
           FROM user_events
          WHERE ctid >= $2::tid AND event_timestamp >= now() - make_interval(mins => $1)) AS e`,
      [windowMinutes, `(${firstPage},0)`],
    ),
    db.query<Record<string, string | null>>(
      `SELECT ${PERCENTILES} FROM (
         SELECT extract(epoch FROM ingested_at - first_seen_at) * 1000 AS ms
           FROM ingested_objects
          WHERE ingested_at >= now() - make_interval(mins => $1) AND status = 'ingested') AS p`,
      [windowMinutes],
    ),
  ]);
  return {
    windowMinutes,
    objectToCommit: percentiles(objects.rows[0]),
    eventToCommit: percentiles(events.rows[0]),
    processing: percentiles(processing.rows[0]),
  };
}

function percentiles(r: Record<string, string | null> | undefined): Percentiles {
  const num = (v: string | null | undefined) =>
    v === null || v === undefined ? null : Math.round(Number(v));
  return { n: Number(r?.n ?? 0), p50: num(r?.p50), p90: num(r?.p90), p99: num(r?.p99), max: num(r?.max) };
}

/** One ledger row, as the dashboard lists it. */
export interface LedgerRow {
  bucket: string;
  key: string;
  status: 'ingested' | 'failed';
  error: string | null;
  rowsTotal: number;
  rowsInserted: number;
  rowsDuplicate: number;
  rowsRejected: number;
  ingestedAt: string;
  /** Object created → committed (ms), when the notification carried the creation time. */
  latencyMs: number | null;
}

/**
 * The most recently committed objects, newest first (a backward scan of the `ingested_at` index);
 * with `failedOnly`, only objects that failed as a whole, with their error.
 */
export async function readLatestObjects(
  db: Queryable,
  options: { limit?: number; failedOnly?: boolean } = {},
): Promise<LedgerRow[]> {
  const { rows } = await db.query<Record<string, string | number | Date | null>>(
    `SELECT bucket, key, status, error, rows_total, rows_inserted, rows_duplicate, rows_rejected, ingested_at,
            extract(epoch FROM ingested_at - object_created_at) * 1000 AS latency_ms
       FROM ingested_objects
      WHERE ingested_at IS NOT NULL AND ($2::boolean IS FALSE OR status = 'failed')
      ORDER BY ingested_at DESC
      LIMIT $1`,
    [options.limit ?? 10, options.failedOnly ?? false],
  );
  return rows.map((r) => ({
    bucket: String(r.bucket),
    key: String(r.key),
    status: r.status === 'failed' ? 'failed' : 'ingested',
    error: r.error === null ? null : String(r.error),
    rowsTotal: Number(r.rows_total),
    rowsInserted: Number(r.rows_inserted),
    rowsDuplicate: Number(r.rows_duplicate),
    rowsRejected: Number(r.rows_rejected),
    ingestedAt: (r.ingested_at as Date).toISOString(),
    latencyMs: r.latency_ms === null ? null : Math.round(Number(r.latency_ms)),
  }));
}

/** One rejected row, as the dashboard lists it (raw text cut to a preview). */
export interface RejectRow {
  key: string;
  line: number;
  reason: string;
  raw: string;
  rejectedAt: string;
}

/** The most recent rejects (backward scan of the `rejected_at` index). */
export async function readLatestRejects(db: Queryable, limit = 10): Promise<RejectRow[]> {
  const { rows } = await db.query<Record<string, string | number | Date>>(
    `SELECT source_key, line_number, reason, left(raw_line, 200) AS raw, rejected_at
       FROM rejected_events
      ORDER BY rejected_at DESC, id DESC
      LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({
    key: String(r.source_key),
    line: Number(r.line_number),
    reason: String(r.reason),
    raw: String(r.raw),
    rejectedAt: (r.rejected_at as Date).toISOString(),
  }));
}

/** Rejected rows per reason, all time (from `reject_totals`, which triggers on the rejects maintain). */
export async function readRejectReasons(db: Queryable): Promise<{ reason: string; rows: number }[]> {
  const { rows } = await db.query<{ reason: string; n: string }>(
    'SELECT reason, sum(rows) AS n FROM reject_totals GROUP BY reason HAVING sum(rows) <> 0 ORDER BY n DESC, reason',
  );
  return rows.map((r) => ({ reason: r.reason, rows: Number(r.n) }));
}

/** One line of the `event_summary` breakdown, summed over the window's hours and categories. */
export interface SummaryRow {
  eventType: string;
  events: number;
  units: number;
  revenue: string;
}

/**
 * The `event_summary` view by event type over the last `hours` hours of event time: a range of
 * the rollup's primary key, which ingest keeps up to date, so it costs the same at any table size.
 */
export async function readSummary(db: Queryable, hours = 24): Promise<SummaryRow[]> {
  const { rows } = await db.query<{ event_type: string; events: string; units: string; revenue: string }>(
    `SELECT event_type, sum(events) AS events, sum(units) AS units, sum(revenue)::numeric(16, 2) AS revenue
       FROM event_summary
      WHERE hour >= date_trunc('hour', now()) - make_interval(hours => $1)
      GROUP BY event_type
      ORDER BY sum(events) DESC`,
    [hours],
  );
  return rows.map((r) => ({
    eventType: r.event_type,
    events: Number(r.events),
    units: Number(r.units),
    revenue: r.revenue,
  }));
}
