import type pg from 'pg';
import { readCounts } from '../../local/dashboard/queries.ts';
import { readDetail, readSlowDetail } from '../../local/dashboard/refresh.ts';

/**
 * Table-size scaling for the bench: fill `user_events` (and a ledger in proportion) with millions of
 * past events quickly, so the end-to-end run can be measured against a table that is already large,
 * and time the dashboard's refresh queries there.
 *
 * The fill is set-based SQL on two connections, each inserting its half in statements of a million
 * rows, with the primary key and the BRIN index dropped during the fill and built after (as a bulk
 * load would), and the schema's summary triggers disabled during the fill and the totals rebuilt by
 * the schema's `rebuild_totals()` at the end. Then VACUUM ANALYZE, so the run that follows does not pay
 * for setting hint bits on 50 million rows, and a CHECKPOINT.
 */

/** How the prefilled event_ids are made: like the generator's (time-ordered) or fully random. */
export type IdKind = 'v7' | 'v4';

/**
 * The secondary indexes `user_events` had before `sql/0005_flat_cost.sql`, for measuring what that
 * change bought (`--indexes before`): B-trees on time, on (user, time) and on (type, time).
 */
export async function useIndexesBefore(pool: pg.Pool): Promise<void> {
  await pool.query(`DROP INDEX user_events_event_timestamp_brin;
    CREATE INDEX user_events_event_timestamp_idx ON user_events (event_timestamp);
    CREATE INDEX user_events_user_id_idx ON user_events (user_id, event_timestamp);
    CREATE INDEX user_events_type_time_idx ON user_events (event_type, event_timestamp);`);
}

/** What a prefill did. */
export interface Prefill {
  rows: number;
  ids: IdKind;
  seconds: number;
  tableMb: number;
  primaryKeyMb: number;
}

const CATEGORIES = [
  'Electronics',
  'Books',
  'Home & Kitchen',
  'Sports & Outdoors',
  'Toys & Games',
  'Beauty',
  'Clothing',
  'Grocery',
  'Garden',
  'Automotive',
];

/**
 * Inserts events number $1 … $2 - 1 of $5, spread evenly over $3 … $4 (epoch ms); event_ids are
 * UUIDv7 from the event time when $6 is 'v7' (the generator's kind), else random v4; categories
 * from $7.
 */
const INSERT_EVENTS = `
    INSERT INTO user_events (event_id, event_type, user_id, session_id, product_id, product_name,
                             product_category, product_price, quantity, device_type, event_timestamp,
                             source_bucket, source_key, source_line, ingested_at)
    SELECT CASE WHEN $6::text = 'v7'
                THEN (lpad(to_hex(ms), 12, '0') || '7' || substr(h, 1, 3) || '8' || substr(h, 4, 15))::uuid
                ELSE gen_random_uuid() END,
           (ARRAY['view', 'view', 'view', 'view', 'view', 'view', 'add_to_cart', 'add_to_cart',
                  'remove_from_cart', 'purchase', 'wishlist'])[1 + i % 11],
           'U' || lpad((1 + (i * 7919) % 50000)::text, 6, '0'),
           'S' || substr(h, 16, 17),
           'P' || lpad((1 + (i * 31) % 500)::text, 6, '0'),
           'Prefilled Product ' || (1 + (i * 31) % 500),
           ($7::text[])[1 + (i * 31) % 500 % 10],
           (1 + ((i * 31) % 500) * 1.37)::numeric(10, 2),
           1 + i % 3,
           (ARRAY['mobile', 'desktop', 'tablet'])[1 + i % 3],
           to_timestamp(ms / 1000.0),
           'prefill', 'prefill/' || (i / 1000) || '.csv', 2 + i % 1000,
           to_timestamp(ms / 1000.0)
      FROM (SELECT i, ($3::bigint + (i * ($4::bigint - $3::bigint)) / $5::bigint) AS ms, md5(i::text) AS h
              FROM generate_series($1::bigint, $2::bigint - 1) AS i) AS g`;

/**
 * Fill a migrated, empty database with `rows` events dated over the 60 days before now (so they
 * are older than anything the run will ingest) and one ledger row per 1,000 of them.
 */
export async function prefill(
  pool: pg.Pool,
  rows: number,
  ids: IdKind,
  progress: (line: string) => void,
): Promise<Prefill> {
  const started = performance.now();
  const endMs = Date.now() - 3_600_000;
  const startMs = endMs - 60 * 86_400_000;
  // Every index but the primary key is dropped for the fill and built again after from its definition.
  const { rows: indexes } = await pool.query<{ name: string; definition: string }>(
    `SELECT indexname AS name, indexdef AS definition FROM pg_indexes
      WHERE schemaname = current_schema() AND tablename = 'user_events' AND indexname <> 'user_events_pkey'`,
  );
  await pool.query(`ALTER TABLE user_events DISABLE TRIGGER USER;
                    ALTER TABLE ingested_objects DISABLE TRIGGER USER;
                    ALTER TABLE user_events DROP CONSTRAINT user_events_pkey;`);
  await pool.query(`DO $$
    DECLARE r record;
    BEGIN
      FOR r IN SELECT indexname FROM pg_indexes
                WHERE schemaname = current_schema() AND tablename = 'user_events' AND indexname <> 'user_events_pkey'
      LOOP EXECUTE format('DROP INDEX %I', r.indexname); END LOOP;
    END $$`);
  const STEP = 1_000_000;
  let next = 0;
  let done = 0;
  await Promise.all(
    [0, 1].map(async () => {
      for (let from = next; from < rows; from = next) {
        next += STEP;
        const to = Math.min(rows, from + STEP);
        await pool.query(INSERT_EVENTS, [from, to, startMs, endMs, rows, ids, CATEGORIES]);
        done += to - from;
        if (done % (10 * STEP) === 0 || done === rows)
          progress(
            `  prefill: ${(done / 1e6).toFixed(0)}M rows (${((performance.now() - started) / 1000).toFixed(0)} s)`,
          );
      }
    }),
  );
  const objects = Math.ceil(rows / 1000);
  await pool.query(
    `INSERT INTO ingested_objects (bucket, key, etag, size, status, rows_total, rows_inserted, resume_offset,
                                   lines_read, chunks, object_created_at, first_seen_at, ingested_at, updated_at)
     SELECT 'prefill', 'prefill/' || k || '.csv', md5(k::text), 150000, 'ingested', n, n, 150000, n + 1, 1, t, t, t, t
       FROM (SELECT k, least(1000, $1::bigint - k * 1000) AS n,
                    to_timestamp(($2::bigint + (k * 1000 * ($3::bigint - $2::bigint)) / $1::bigint) / 1000.0) AS t
               FROM generate_series(0, $4::bigint - 1) AS k) AS o`,
    [rows, startMs, endMs, objects],
  );
  progress(
    `  prefill: building the primary key and ${indexes.map((i) => i.name).join(', ')}; the rollup and totals`,
  );
  const client = await pool.connect();
  try {
    await client.query(`SET maintenance_work_mem = '1GB'`);
    await client.query('ALTER TABLE user_events ADD PRIMARY KEY (event_id)');
    for (const index of indexes) await client.query(index.definition);
  } finally {
    client.release();
  }
  await pool.query('SELECT rebuild_totals()');
  await pool.query(`ALTER TABLE user_events ENABLE TRIGGER USER;
                    ALTER TABLE ingested_objects ENABLE TRIGGER USER;`);
  progress(`  prefill: VACUUM ANALYZE and CHECKPOINT`);
  await pool.query('VACUUM (ANALYZE) user_events');
  await pool.query('VACUUM (ANALYZE) ingested_objects');
  await pool.query('CHECKPOINT');
  const { rows: size } = await pool.query<{ table: string; pk: string }>(
    `SELECT pg_table_size('user_events') AS table, pg_relation_size('user_events_pkey') AS pk`,
  );
  return {
    rows,
    ids,
    seconds: (performance.now() - started) / 1000,
    tableMb: Number(size[0]?.table ?? 0) / 2 ** 20,
    primaryKeyMb: Number(size[0]?.pk ?? 0) / 2 ** 20,
  };
}

/**
 * Milliseconds of one dashboard refresh: the ledger totals and both sets of queries the dashboard's
 * sampler runs (the every-second set and the slower one), one after the other. Median of `times`
 * refreshes after one warm-up.
 */
export async function dashboardQueryMs(pool: pg.Pool, times = 15): Promise<number> {
  const refresh = async () => {
    const t = performance.now();
    await readCounts(pool);
    await readDetail(pool);
    await readSlowDetail(pool);
    return performance.now() - t;
  };
  await refresh();
  const ms: number[] = [];
  for (let i = 0; i < times; i++) ms.push(await refresh());
  ms.sort((a, b) => a - b);
  return ms[ms.length >> 1] as number;
}
