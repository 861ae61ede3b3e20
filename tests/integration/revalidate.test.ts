import { describe, expect, it } from 'vitest';
import { revalidate } from '../../functions/ingest/revalidate.ts';
import { doc, ev, HEADER, line } from '../fixtures/cases.ts';
import { ingestOne } from '../helpers/ingest.ts';
import { ingestEnv } from '../helpers/ingest-env.ts';

/**
 * `npm run revalidate`: rejects checked again after the rules changed move to user_events, once,
 * and every ledger sum stays true.
 */

const BUCKET = 'revalidate-test';
const NOW = Date.parse('2026-11-21T12:00:00Z');
const LATER = NOW + 2 * 3600_000;
const env = ingestEnv({ bucket: BUCKET, now: NOW, keyPrefix: 'r' });
const { put } = env;

const sumsHold = async () =>
  (
    await env.db.pool.query(
      'SELECT count(*)::int AS n FROM ingested_objects WHERE rows_total <> rows_inserted + rows_duplicate + rows_rejected',
    )
  ).rows[0].n === 0;

describe('revalidate', () => {
  it('inserts rows that pass the rules now, counts repeats as duplicates, keeps the rest, and the ledger adds up', async () => {
    // One hour ahead of ingest's clock: timestamp_in_future then; valid once the clock has caught up.
    const soon = new Date(NOW + 3600_000).toISOString();
    const early = ev({ event_timestamp: soon });
    const repeat = ev({ event_timestamp: soon });
    const stored = ev({ event_id: repeat.event_id });
    const refA = await put(doc([ev(), early, ev({ quantity: '0' }), repeat]));
    const refB = await put(doc([stored]));
    expect(await ingestOne(env.deps, refA)).toMatchObject({ rowsInserted: 1, rowsRejected: 3 });
    expect(await ingestOne(env.deps, refB)).toMatchObject({ rowsInserted: 1 });

    // A dry run reports and changes nothing.
    const dry = await revalidate(env.db.pool, () => LATER, { dryRun: true });
    expect(dry).toMatchObject({ examined: 3, valid: 2, inserted: 1, duplicate: 1 });
    const before = await env.db.pool.query('SELECT count(*)::int AS n FROM user_events');
    expect(before.rows[0].n).toBe(2);

    const report = await revalidate(env.db.pool, () => LATER, { dryRun: false });
    expect(report).toMatchObject({ examined: 3, valid: 2, inserted: 1, duplicate: 1, objects: 1 });
    expect(report.byReason).toEqual({
      timestamp_in_future: { examined: 2, valid: 2 },
      invalid_quantity: { examined: 1, valid: 0 },
    });
    const row = await env.db.pool.query(
      'SELECT source_key, source_line FROM user_events WHERE event_id = $1',
      [early.event_id],
    );
    expect(row.rows).toEqual([{ source_key: refA.key, source_line: 3 }]);
    const rejects = await env.db.pool.query(
      'SELECT line_number, reason, resolution FROM rejected_events WHERE source_key = $1 ORDER BY line_number',
      [refA.key],
    );
    expect(rejects.rows).toEqual([
      { line_number: 3, reason: 'timestamp_in_future', resolution: 'inserted' },
      { line_number: 4, reason: 'invalid_quantity', resolution: null },
      { line_number: 5, reason: 'timestamp_in_future', resolution: 'duplicate' },
    ]);
    const ledger = await env.db.pool.query(
      'SELECT rows_total, rows_inserted, rows_duplicate, rows_rejected FROM ingested_objects WHERE key = $1',
      [refA.key],
    );
    expect(ledger.rows[0]).toEqual({ rows_total: 4, rows_inserted: 2, rows_duplicate: 1, rows_rejected: 1 });
    expect(await sumsHold()).toBe(true);

    // Again: nothing left to resolve, nothing changes.
    expect(await revalidate(env.db.pool, () => LATER, { dryRun: false })).toMatchObject({
      valid: 0,
      inserted: 0,
    });
  });

  it('a file failed for a header the rules now accept is ingested after all', async () => {
    const events = [ev(), ev()];
    const ref = await put(
      doc(
        events.map((e) => `${line(e)},X1`),
        { header: `${HEADER},coupon` },
      ),
    );
    // As ingest did before extra columns were accepted: the whole file failed on its header.
    await env.db.pool.query(
      `INSERT INTO ingested_objects (bucket, key, etag, status, error, rows_total, rows_rejected, header, ingested_at)
       VALUES ($1, $2, $3, 'failed', 'header_mismatch: expected the event''s columns', 2, 2, $4, now())`,
      [BUCKET, ref.key, ref.etag, `${HEADER},coupon`],
    );
    await env.db.pool.query(
      `INSERT INTO rejected_events (source_bucket, source_key, source_etag, line_number, reason, raw_line)
       SELECT $1, $2, $3, n + 1, 'header_mismatch', raw FROM unnest($4::text[]) WITH ORDINALITY AS r(raw, n)`,
      [BUCKET, ref.key, ref.etag, events.map((e) => `${line(e)},X1`)],
    );
    const report = await revalidate(env.db.pool, () => LATER, {
      reasons: ['header_mismatch'],
      dryRun: false,
    });
    expect(report).toMatchObject({ examined: 2, inserted: 2, objectsNoLongerFailed: 1 });
    const ledger = await env.db.pool.query(
      'SELECT status, error, rows_inserted, rows_rejected FROM ingested_objects WHERE key = $1',
      [ref.key],
    );
    expect(ledger.rows[0]).toEqual({ status: 'ingested', error: null, rows_inserted: 2, rows_rejected: 0 });
    const extra = await env.db.pool.query('SELECT extra FROM user_events WHERE event_id = $1', [
      events[0]?.event_id,
    ]);
    expect(extra.rows[0].extra).toEqual({ coupon: 'X1' });
    expect(await sumsHold()).toBe(true);
  });

  it('leaves the rejects of a file over its budget alone unless that reason is named', async () => {
    const ref = await put(doc([ev(), ev({ quantity: '0' }), ev({ quantity: '0' }), ev({ quantity: '0' })]));
    expect(await ingestOne(env.deps, ref, { maxRejectRatio: 0.5 })).toMatchObject({ status: 'failed' });
    expect(await revalidate(env.db.pool, () => LATER, { dryRun: false })).toMatchObject({ valid: 0 });
    const report = await revalidate(env.db.pool, () => LATER, {
      reasons: ['reject_budget_exceeded'],
      dryRun: false,
    });
    expect(report).toMatchObject({ examined: 1, inserted: 1, objectsNoLongerFailed: 1 });
    expect(await sumsHold()).toBe(true);
  });
});
