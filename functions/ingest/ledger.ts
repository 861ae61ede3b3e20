import type pg from 'pg';
import { pgText } from './chunk.ts';
import type { Encoding, VersionedRef } from './source.ts';

/**
 * The ledger's SQL: one row per object version in `ingested_objects`, keyed (bucket, key, etag).
 *
 * A row is claimed (inserted, or locked when it exists) at the start of every transaction that
 * writes rows of its object, and updated with the object's checkpoint and cumulative counts in the
 * same transaction, so rows, rejects and ledger always commit together. Two workers on one object
 * serialize on that row lock; the second one sees the first one's checkpoint.
 */

/** Where the ledger stands on an object version. */
export type LedgerStatus = 'in_progress' | 'ingested' | 'failed' | 'missing';

/** An object's ledger row as ingest needs it. */
export interface LedgerState {
  status: LedgerStatus;
  /** Checkpoint: bytes covered by committed chunks, and the number of lines they hold. */
  resumeOffset: number;
  linesRead: number;
  header: string | null;
  /** How the object is compressed, once known. */
  encoding: Encoding | null;
  rowsTotal: number;
  rowsInserted: number;
  rowsDuplicate: number;
  rowsRejected: number;
}

/** A state that needs no more work: done (ingested, failed). `missing` and `in_progress` do. */
export function isFinished(status: LedgerStatus): boolean {
  return status === 'ingested' || status === 'failed';
}

/** One string per object version, for maps and sets; as stored (see {@link keys}). */
export function versionId(ref: { bucket: string; key: string; etag: string }): string {
  return JSON.stringify([pgText(ref.bucket), pgText(ref.key), pgText(ref.etag)]);
}

const STATE_COLUMNS = `bucket, key, etag, status, resume_offset, lines_read, header, encoding,
  rows_total, rows_inserted, rows_duplicate, rows_rejected`;

type StateRow = {
  bucket: string;
  key: string;
  etag: string;
  status: LedgerStatus;
  resume_offset: string;
  lines_read: number;
  header: string | null;
  encoding: Encoding | null;
  rows_total: number;
  rows_inserted: number;
  rows_duplicate: number;
  rows_rejected: number;
};

function toStates(rows: StateRow[]): Map<string, LedgerState> {
  return new Map(
    rows.map((r) => [
      versionId(r),
      {
        status: r.status,
        resumeOffset: Number(r.resume_offset),
        linesRead: r.lines_read,
        header: r.header,
        encoding: r.encoding,
        rowsTotal: r.rows_total,
        rowsInserted: r.rows_inserted,
        rowsDuplicate: r.rows_duplicate,
        rowsRejected: r.rows_rejected,
      },
    ]),
  );
}

/**
 * Bucket, key and etag columns as stored. S3 keys may hold NUL, which PostgreSQL text cannot:
 * stored with U+FFFD instead (the S3 calls keep the real key).
 */
const keys = (refs: readonly VersionedRef[]) => [
  refs.map((r) => pgText(r.bucket)),
  refs.map((r) => pgText(r.key)),
  refs.map((r) => pgText(r.etag)),
];

/** The ledger rows of these versions (one indexed read, no lock): what is done, what to resume. */
export async function readStates(
  db: pg.Pool | pg.ClientBase,
  refs: readonly VersionedRef[],
): Promise<Map<string, LedgerState>> {
  if (refs.length === 0) return new Map();
  const { rows } = await db.query<StateRow>(
    `SELECT ${STATE_COLUMNS} FROM ingested_objects
      WHERE (bucket, key, etag) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))`,
    keys(refs),
  );
  return toStates(rows);
}

/**
 * Inside the open transaction: insert the ledger rows of these versions as `in_progress`, or lock
 * the existing ones (a `missing` version is taken up again), and return every row as it now stands.
 * Rows are locked in key order, so two transactions claiming overlapping objects cannot deadlock.
 */
export async function claim(
  client: pg.ClientBase,
  refs: readonly VersionedRef[],
): Promise<Map<string, LedgerState>> {
  const { rows } = await client.query<StateRow>(
    `INSERT INTO ingested_objects AS i (bucket, key, etag, size, status, object_created_at, updated_at)
     SELECT o.bucket, o.key, o.etag, o.size, 'in_progress', o.created, clock_timestamp()
       FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[])
            AS o(bucket, key, etag, size, created)
      ORDER BY o.bucket, o.key, o.etag
     ON CONFLICT (bucket, key, etag) DO UPDATE
        SET status = CASE WHEN i.status = 'missing' THEN 'in_progress' ELSE i.status END,
            size = coalesce(i.size, excluded.size)
     RETURNING ${STATE_COLUMNS}`,
    [...keys(refs), refs.map((r) => r.size ?? null), refs.map((r) => r.eventTime ?? null)],
  );
  return toStates(rows);
}

/** What one commit sets on one object's ledger row (counts are cumulative). */
export interface LedgerUpdate {
  ref: VersionedRef;
  state: LedgerState;
  error: string | null;
  /** 1 when this commit wrote rows of the object. */
  chunks: number;
  /** 1 when the object goes on in a new invocation. */
  continuations: number;
  /** What its header said, once read: extra columns and the header's fingerprint. */
  columns: { extras: string[]; fingerprint: string } | null;
}

/** Set the checkpoint, counts and status of several objects in one statement. */
export async function updateStates(client: pg.ClientBase, updates: readonly LedgerUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  const col = <T>(f: (u: LedgerUpdate) => T) => updates.map(f);
  await client.query(
    `UPDATE ingested_objects i
        SET status = u.status, error = u.error, resume_offset = u.resume_offset, lines_read = u.lines_read,
            header = u.header, rows_total = u.total, rows_inserted = u.inserted,
            rows_duplicate = u.duplicate, rows_rejected = u.rejected,
            chunks = i.chunks + u.chunks, continuations = i.continuations + u.continuations,
            encoding = coalesce(u.encoding, i.encoding),
            header_fingerprint = coalesce(u.fingerprint, i.header_fingerprint),
            extra_columns = CASE WHEN u.extras IS NULL THEN i.extra_columns
                                 ELSE ARRAY(SELECT jsonb_array_elements_text(u.extras::jsonb)) END,
            updated_at = clock_timestamp(),
            ingested_at = CASE WHEN u.status IN ('ingested', 'failed') THEN clock_timestamp() ELSE i.ingested_at END
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::int[],
                   $8::text[], $9::int[], $10::int[], $11::int[], $12::int[], $13::int[], $14::int[],
                   $15::text[], $16::text[], $17::text[])
            AS u(bucket, key, etag, status, error, resume_offset, lines_read, header, total, inserted,
                 duplicate, rejected, chunks, continuations, encoding, fingerprint, extras)
      WHERE i.bucket = u.bucket AND i.key = u.key AND i.etag = u.etag`,
    [
      ...keys(col((u) => u.ref)),
      col((u) => u.state.status),
      col((u) => u.error),
      col((u) => u.state.resumeOffset),
      col((u) => u.state.linesRead),
      col((u) => u.state.header),
      col((u) => u.state.rowsTotal),
      col((u) => u.state.rowsInserted),
      col((u) => u.state.rowsDuplicate),
      col((u) => u.state.rowsRejected),
      col((u) => u.chunks),
      col((u) => u.continuations),
      col((u) => u.state.encoding),
      col((u) => u.columns?.fingerprint ?? null),
      col((u) => (u.columns ? JSON.stringify(u.columns.extras) : null)),
    ],
  );
}
