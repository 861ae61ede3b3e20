import type pg from 'pg';
import { EVENT_COLUMNS } from '../shared/event.ts';
import { Chunk } from './chunk.ts';
import { ObjectReader } from './reader.ts';
import { writeRows } from './rows.ts';

/** Which stored rejects to check again. */
export interface RevalidateOptions {
  /** Only rejects with these reasons; default every reason but `reject_budget_exceeded`. */
  reasons?: readonly string[];
  /** Only rejects stored at or after this time. */
  since?: Date;
  /** Report what would change, change nothing. */
  dryRun: boolean;
  /** Rejects per transaction (default 20,000). */
  batchRows?: number;
}

/** What a run found and did, per reason and in all. */
export interface RevalidateReport {
  examined: number;
  /** Rows that pass the current rules. */
  valid: number;
  /** Of those, inserted (first occurrence of their event_id) and already stored. */
  inserted: number;
  duplicate: number;
  /** Objects whose ledger counts changed, and those of them that are no longer failed. */
  objects: number;
  objectsNoLongerFailed: number;
  byReason: Record<string, { examined: number; valid: number }>;
}

/** Reasons that are a verdict on the whole file by policy, not a rule a row broke. */
const POLICY_REASONS = ['reject_budget_exceeded'];

interface Candidate {
  id: string;
  bucket: string;
  key: string;
  etag: string;
  line_number: number;
  reason: string;
  raw_line: string;
  header: string | null;
  status: string;
  error: string | null;
}

/**
 * Re-apply the current rules to stored rejected rows (rules change: a wider header contract, a
 * corrected timestamp rule, a clock that has caught up). A row that now passes is written like any
 * row (first occurrence of its event_id wins; one already stored counts as a duplicate) with its
 * original object and line; its reject is kept, marked resolved; its object's ledger counts move
 * from rejected to inserted or duplicate, so they still add up, in the same transaction. A failed
 * object whose failure was its header, or its reject budget, and that has no such reject left, is
 * then `ingested`. Objects still being ingested are left alone.
 */
export async function revalidate(
  db: pg.Pool,
  clock: () => number,
  options: RevalidateOptions,
): Promise<RevalidateReport> {
  const report: RevalidateReport = {
    examined: 0,
    valid: 0,
    inserted: 0,
    duplicate: 0,
    objects: 0,
    objectsNoLongerFailed: 0,
    byReason: {},
  };
  const batchRows = options.batchRows ?? 20_000;
  let after = '0';
  for (;;) {
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<Candidate>(
        `SELECT r.id::text AS id, r.source_bucket AS bucket, r.source_key AS key, r.source_etag AS etag,
                r.line_number, r.reason, r.raw_line, o.header, o.status, o.error
           FROM rejected_events r
           JOIN ingested_objects o ON o.bucket = r.source_bucket AND o.key = r.source_key AND o.etag = r.source_etag
          WHERE r.resolved_at IS NULL AND r.id > $1::bigint
            AND o.status IN ('ingested', 'failed')
            AND (r.reason = ANY($2::text[]) OR ($2::text[] IS NULL AND r.reason <> ALL($3::text[])))
            AND ($4::timestamptz IS NULL OR r.rejected_at >= $4)
          ORDER BY r.id
          LIMIT $5
            FOR UPDATE OF o, r`,
        [after, options.reasons ?? null, POLICY_REASONS, options.since ?? null, batchRows],
      );
      if (rows.length === 0) {
        await client.query('ROLLBACK');
        return report;
      }
      after = (rows.at(-1) as Candidate).id;
      await recheck(client, clock, rows, report, options.dryRun);
      await client.query(options.dryRun ? 'ROLLBACK' : 'COMMIT');
    } catch (e: unknown) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }
}

/** Check one batch of rejects against the rules and write what now passes. */
async function recheck(
  client: pg.ClientBase,
  clock: () => number,
  rows: readonly Candidate[],
  report: RevalidateReport,
  dryRun: boolean,
): Promise<void> {
  // One part per object (its rejects need not be contiguous by id), in the order first seen.
  const byObject = new Map<string, Candidate[]>();
  for (const r of rows) {
    const key = JSON.stringify([r.bucket, r.key, r.etag]);
    const list = byObject.get(key);
    if (list) list.push(r);
    else byObject.set(key, [r]);
  }
  const chunk = new Chunk();
  const objects: { first: Candidate; resolved: string[] }[] = [];
  const rejectOf: string[] = []; // reject id of each valid row in the chunk
  const newReasons = new Map<string, string[]>(); // still rejected, for another reason now: reason → ids
  for (const list of byObject.values()) {
    const first = list[0] as Candidate;
    const object = { first, resolved: [] as string[] };
    objects.push(object);
    const part = chunk.begin(objects.length - 1, first.bucket, first.key, first.etag);
    for (const r of list) {
      const reason = report.byReason[r.reason] ?? { examined: 0, valid: 0 };
      report.byReason[r.reason] = reason;
      reason.examined++;
      report.examined++;
      const before = {
        rows: chunk.rowCount,
        rejects: chunk.rejects.length,
        reasons: new Map(part.reasons),
      };
      const reader = new ObjectReader(clock, {
        byte: 1, // not the start of a file: no byte order mark to look for
        line: r.line_number,
        header: r.header ?? EVENT_COLUMNS.join(','),
      });
      reader.feed(Buffer.from(`${r.raw_line}\n`));
      reader.end();
      reader.fill(chunk, Number.POSITIVE_INFINITY);
      chunk.rejects.length = before.rejects; // a row still rejected keeps its stored reject
      if (chunk.rowCount === before.rows + 1) {
        rejectOf[before.rows] = r.id;
        object.resolved.push(r.id);
        reason.valid++;
        report.valid++;
        continue;
      }
      chunk.dropRowsFrom(before.rows);
      const now = [...part.reasons].find(([k, n]) => n > (before.reasons.get(k) ?? 0))?.[0];
      if (now && now !== r.reason) newReasons.set(now, [...(newReasons.get(now) ?? []), r.id]);
    }
  }
  if (!dryRun)
    for (const [reason, ids] of newReasons)
      await client.query('UPDATE rejected_events SET reason = $1 WHERE id = ANY($2::bigint[])', [
        reason,
        ids,
      ]);

  const inserted = new Set<string>();
  await writeRows(client, chunk, new Set(), new Set(), (row) => inserted.add(rejectOf[row] as string));
  const resolved = objects.flatMap((o) => o.resolved);
  report.inserted += inserted.size;
  report.duplicate += resolved.length - inserted.size;
  if (dryRun || resolved.length === 0) {
    report.objects += objects.filter((o) => o.resolved.length > 0).length;
    return;
  }
  await client.query(
    `UPDATE rejected_events SET resolved_at = clock_timestamp(),
            resolution = CASE WHEN id = ANY($2::bigint[]) THEN 'inserted' ELSE 'duplicate' END
      WHERE id = ANY($1::bigint[])`,
    [resolved, [...inserted]],
  );
  for (const o of objects) {
    if (o.resolved.length === 0) continue;
    const ins = o.resolved.filter((id) => inserted.has(id)).length;
    const { rows: changed } = await client.query<{ status: string }>(
      `UPDATE ingested_objects o
          SET rows_rejected = rows_rejected - $4, rows_inserted = rows_inserted + $5,
              rows_duplicate = rows_duplicate + ($4 - $5), updated_at = clock_timestamp(),
              status = CASE WHEN o.status = 'failed'
                             AND split_part(o.error, ':', 1) IN ('header_mismatch', 'reject_budget_exceeded')
                             AND NOT EXISTS (SELECT 1 FROM rejected_events r
                                              WHERE r.source_bucket = o.bucket AND r.source_key = o.key
                                                AND r.source_etag = o.etag AND r.resolved_at IS NULL
                                                AND r.reason = split_part(o.error, ':', 1))
                            THEN 'ingested' ELSE o.status END,
              error = CASE WHEN o.status = 'failed'
                            AND split_part(o.error, ':', 1) IN ('header_mismatch', 'reject_budget_exceeded')
                            AND NOT EXISTS (SELECT 1 FROM rejected_events r
                                             WHERE r.source_bucket = o.bucket AND r.source_key = o.key
                                               AND r.source_etag = o.etag AND r.resolved_at IS NULL
                                               AND r.reason = split_part(o.error, ':', 1))
                           THEN NULL ELSE o.error END
        WHERE bucket = $1 AND key = $2 AND etag = $3
        RETURNING status`,
      [o.first.bucket, o.first.key, o.first.etag, o.resolved.length, ins],
    );
    report.objects++;
    if (o.first.status === 'failed' && changed[0]?.status === 'ingested') report.objectsNoLongerFailed++;
  }
}
