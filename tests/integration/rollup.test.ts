import { describe, expect, it } from 'vitest';
import type { ObjectRef } from '../../functions/ingest/s3-event.ts';
import { readCounts, readRejectReasons } from '../../scripts/local/dashboard/queries.ts';
import { csv, row } from '../helpers/factories.ts';
import { ingestMany, ingestOne } from '../helpers/ingest.ts';
import { ingestEnv } from '../helpers/ingest-env.ts';

/**
 * The totals the schema's triggers maintain (event_rollup behind event_summary, ledger_totals,
 * reject_totals) against a fresh aggregate of the tables they summarize, after everything that
 * could count a row twice or not at all: duplicates in and across files, replays, two ingests racing
 * on the same event_ids, an object committed in several chunks, a failed object, rejects, and a
 * retention DELETE; and `rebuild_totals()`, which computes them afresh.
 */

const BUCKET = 'rollup-test';
const NOW = Date.parse('2026-11-21T12:00:00Z');
const env = ingestEnv({ bucket: BUCKET, now: NOW, keyPrefix: 'u' });
const { put } = env;

const TYPES = ['view', 'add_to_cart', 'purchase', 'wishlist', 'remove_from_cart'];
const CATEGORIES = ['Books', 'Home & Kitchen', 'Toys, Games', 'Garden "Outdoor"'];

/** Rows spread over hours (some near an hour's edge), types, categories, prices and quantities. */
function rows(count: number, seed: number) {
  return Array.from({ length: count }, (_, i) => {
    const k = seed * 1000 + i;
    return row({
      event_type: TYPES[k % TYPES.length],
      product_category: CATEGORIES[(k >> 1) % CATEGORIES.length],
      product_price: `${(k % 97) + 0.99}`,
      quantity: String(1 + (k % 4)),
      event_timestamp: new Date(NOW - 6 * 3600_000 + seed * 60_000 + i * 17_123).toISOString(),
    });
  });
}

async function rollupMatchesEvents(): Promise<void> {
  const { rows: diff } = await env.db.pool.query(
    `WITH fresh AS (
       SELECT date_trunc('hour', event_timestamp, 'UTC') AS hour, event_type, product_category,
              count(*)::bigint AS events, sum(quantity)::bigint AS units,
              sum(CASE WHEN event_type = 'purchase' THEN product_price * quantity ELSE 0 END)::numeric(14, 2) AS revenue
         FROM user_events GROUP BY 1, 2, 3)
     (SELECT 'only in event_summary' AS side, * FROM (SELECT * FROM event_summary EXCEPT SELECT * FROM fresh) a)
     UNION ALL
     (SELECT 'only in user_events', * FROM (SELECT * FROM fresh EXCEPT SELECT * FROM event_summary) b)`,
  );
  expect(diff).toEqual([]);
}

async function totalsMatchTables(): Promise<void> {
  const counts = await readCounts(env.db.pool);
  const { rows } = await env.db.pool.query<Record<string, string>>(
    `SELECT count(*) FILTER (WHERE status = 'ingested') AS ingested,
            count(*) FILTER (WHERE status = 'failed') AS failed,
            count(*) FILTER (WHERE error LIKE 'reject\\_budget\\_exceeded%') AS budget,
            count(*) FILTER (WHERE status = 'in_progress') AS in_progress,
            count(*) FILTER (WHERE status = 'missing') AS missing,
            coalesce(sum(rows_inserted), 0) AS inserted, coalesce(sum(rows_duplicate), 0) AS duplicate,
            coalesce(sum(rows_rejected), 0) AS rejected
       FROM ingested_objects`,
  );
  const r = rows[0] as Record<string, string>;
  expect(counts).toMatchObject({
    objectsIngested: Number(r.ingested),
    objectsFailed: Number(r.failed),
    objectsBudgetFailed: Number(r.budget),
    objectsInProgress: Number(r.in_progress),
    objectsMissing: Number(r.missing),
    rowsInserted: Number(r.inserted),
    rowsDuplicate: Number(r.duplicate),
    rowsRejected: Number(r.rejected),
  });
  const { rows: reasons } = await env.db.pool.query<{ reason: string; n: string }>(
    'SELECT reason, count(*) AS n FROM rejected_events GROUP BY reason ORDER BY n DESC, reason',
  );
  expect(await readRejectReasons(env.db.pool)).toEqual(
    reasons.map((x) => ({ reason: x.reason, rows: Number(x.n) })),
  );
}

describe('maintained totals (real PostgreSQL + S3 wire protocol)', () => {
  it('stay exact through duplicates, replays, races, chunks, failures and deletes', async () => {
    const a = rows(300, 1);
    const b = rows(300, 2);
    // Duplicates inside a file and across files, and rows that break a rule.
    const first = await put(csv([...a, ...a.slice(0, 40), 'not,a,row']));
    const second = await put(
      csv([...b, ...a.slice(100, 160), { ...(b[0] as Record<string, string>), quantity: '0' }]),
    );
    await ingestMany(env.deps, [first, second]);
    await rollupMatchesEvents();
    await totalsMatchTables();
    const afterFirst = await readCounts(env.db.pool);
    expect(afterFirst.rowsInserted).toBe(600);

    // Replays change nothing.
    await ingestOne(env.deps, first);
    await ingestMany(env.deps, [second, first]);
    await rollupMatchesEvents();
    await totalsMatchTables();
    expect((await readCounts(env.db.pool)).rowsInserted).toBe(600);

    // Two ingests racing on the same new event_ids and the same hours.
    const c = rows(500, 3);
    const [x, y] = await Promise.all([put(csv(c)), put(csv([...c.slice(250), ...c.slice(0, 250)]))]);
    await Promise.all([ingestOne(env.deps, x as ObjectRef), ingestOne(env.deps, y as ObjectRef)]);
    await rollupMatchesEvents();
    await totalsMatchTables();
    expect((await readCounts(env.db.pool)).rowsInserted).toBe(1100);

    // A large object committed chunk by chunk, and an object over its reject budget.
    const big = await put(csv(rows(1000, 4)));
    await ingestOne(env.deps, big, { chunkRows: 150 });
    const junk = await put(csv([...rows(3, 5), 'x', 'y', 'z', 'w', 'v']));
    expect((await ingestOne(env.deps, junk, { maxRejectRatio: 0.5 })).status).toBe('failed');
    await rollupMatchesEvents();
    await totalsMatchTables();

    // Retention: deleting events takes them out of the summary; emptied groups disappear.
    await env.db.pool.query(`DELETE FROM user_events WHERE event_timestamp < $1`, [
      new Date(NOW - 3 * 3600_000),
    ]);
    await env.db.pool.query(`DELETE FROM rejected_events WHERE line_number = 2`);
    await rollupMatchesEvents();
    await totalsMatchTables();
    const { rows: empty } = await env.db.pool.query('SELECT * FROM event_rollup WHERE events = 0');
    expect(empty).toEqual([]);

    // Rebuilt from scratch (after a bulk load with the triggers off), the totals are the same.
    await env.db.pool.query('SELECT rebuild_totals()');
    await rollupMatchesEvents();
    await totalsMatchTables();
  });
});
