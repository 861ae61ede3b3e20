import type pg from 'pg';
import { pgText } from '../ingest/chunk.ts';

/**
 * Reconciliation's SQL: what the ledger says about listed object versions, where the next run starts
 * listing, and the record of what was sent. Set-based and parameterized; keys are stored as ingest
 * stores them (a NUL, which PostgreSQL text cannot hold, as U+FFFD).
 */

/** Anything that runs a query: a pool or a client. */
export type Queryable = Pick<pg.Pool, 'query'>;

/** Why an object is sent again. */
export type ReconcileReason = 'unrecorded' | 'missing' | 'stalled';

/** One listed object version. */
export interface ListedObject {
  key: string;
  /** Without quotes. */
  etag: string;
  size: number;
  lastModified: Date;
}

/**
 * The reason to send each of `objects` again, or nothing for those the ledger holds in hand: one
 * indexed lookup per object version, in one statement. "Stalled" is judged by the server's clock,
 * the one that stamped `updated_at`.
 */
export async function reasonsFor(
  db: Queryable,
  bucket: string,
  objects: readonly ListedObject[],
  staleSeconds: number,
): Promise<(ReconcileReason | undefined)[]> {
  if (objects.length === 0) return [];
  const { rows } = await db.query<{ i: number; status: string | null; stalled: boolean | null }>(
    `SELECT o.i, l.status,
            coalesce(l.updated_at, l.first_seen_at) < clock_timestamp() - make_interval(secs => $4) AS stalled
       FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS o(key, etag, i)
       LEFT JOIN ingested_objects l ON l.bucket = $1 AND l.key = o.key AND l.etag = o.etag`,
    [pgText(bucket), objects.map((o) => pgText(o.key)), objects.map((o) => pgText(o.etag)), staleSeconds],
  );
  const out: (ReconcileReason | undefined)[] = objects.map(() => undefined);
  for (const r of rows) {
    const reason: ReconcileReason | undefined =
      r.status === null
        ? 'unrecorded'
        : r.status === 'missing'
          ? 'missing'
          : r.status === 'in_progress' && r.stalled
            ? 'stalled'
            : undefined;
    out[Number(r.i) - 1] = reason;
  }
  return out;
}

/** Where the next scheduled run of (bucket, prefix) starts listing; `undefined` = at the beginning. */
export async function readCursor(db: Queryable, bucket: string, prefix: string): Promise<string | undefined> {
  const { rows } = await db.query<{ start_after: string | null }>(
    'SELECT start_after FROM reconcile_cursors WHERE bucket = $1 AND prefix = $2',
    [bucket, prefix],
  );
  return rows[0]?.start_after ?? undefined;
}

/** Save where the next run starts (`undefined`: the listing was finished, start again at the beginning). */
export async function saveCursor(
  db: Queryable,
  bucket: string,
  prefix: string,
  startAfter: string | undefined,
): Promise<void> {
  await db.query(
    `INSERT INTO reconcile_cursors AS c (bucket, prefix, start_after)
     VALUES ($1, $2, $3)
     ON CONFLICT (bucket, prefix) DO UPDATE
        SET start_after = excluded.start_after, updated_at = now(),
            pass_started_at = CASE WHEN c.start_after IS NULL THEN now() ELSE c.pass_started_at END`,
    [bucket, prefix, startAfter === undefined ? null : pgText(startAfter)],
  );
}

/** Record the notifications sent for these objects, with their reasons. */
export async function recordReconciled(
  db: Queryable,
  bucket: string,
  sent: readonly (ListedObject & { reason: ReconcileReason })[],
): Promise<void> {
  if (sent.length === 0) return;
  await db.query(
    `INSERT INTO reconciled_objects (bucket, key, etag, size, last_modified, reason)
     SELECT $1, o.key, o.etag, o.size, o.last_modified, o.reason
       FROM unnest($2::text[], $3::text[], $4::bigint[], $5::timestamptz[], $6::text[])
            AS o(key, etag, size, last_modified, reason)`,
    [
      pgText(bucket),
      sent.map((o) => pgText(o.key)),
      sent.map((o) => pgText(o.etag)),
      sent.map((o) => o.size),
      sent.map((o) => o.lastModified),
      sent.map((o) => o.reason),
    ],
  );
}
