-- Cost that does not grow with the table: fewer indexes on user_events, and maintained totals for
-- everything a dashboard or status reads, so neither writing nor reading slows as the table fills.

-- ---- Indexes on user_events ----------------------------------------------------------------------
-- Every B-tree on user_events is written on every insert, and a B-tree on a key that arrives in
-- random order (user_id, or event_type then time) puts each insert on a random leaf page: once the
-- index outgrows memory, each row costs a page read and a dirty page to write back. No query of the
-- product reads user_events by user or by type (summaries come from event_rollup below), so those
-- two go. Time-range reads (the dashboard's recent-event latency, psql by hand) use a BRIN index:
-- rows are appended roughly in event-time order, so a summary per 128 pages answers a range
-- query at a few kilobytes of index for the whole table, and costs next to nothing per insert.
-- The primary key stays: it is the idempotency key. Generated event_ids are UUIDv7 (time first), so
-- its inserts land on the right edge of the tree too.
DROP INDEX user_events_event_timestamp_idx;
DROP INDEX user_events_user_id_idx;
DROP INDEX user_events_type_time_idx;
CREATE INDEX user_events_event_timestamp_brin ON user_events USING brin (event_timestamp)
  WITH (autosummarize = on);

-- ---- event_summary from a rollup ---------------------------------------------------------------
-- Counts, units and revenue per UTC hour, type and category, kept exact by statement triggers on
-- user_events: whatever writes or deletes events (ingest's COPY, revalidation, a retention DELETE
-- by hand) adjusts the rollup in the same transaction, from the rows it actually changed. A replay
-- or a duplicate inserts no row, so it adds nothing. Reading the summary costs the same at any size.
-- Distinct users per hour is not additive, so the rollup cannot keep it exactly: the view no longer
-- has a `users` column (count distinct users of a time range from user_events, which BRIN bounds).
CREATE TABLE event_rollup (
  hour              timestamptz NOT NULL,
  event_type        text NOT NULL,
  product_category  text NOT NULL,
  events            bigint NOT NULL,
  units             bigint NOT NULL,
  revenue           numeric(18, 2) NOT NULL,
  PRIMARY KEY (hour, event_type, product_category)
);

-- The rows a statement changed, signed: +1 for rows it wrote, -1 for rows it removed (an UPDATE is
-- both). Each trigger function below sums these into its totals with one statement.
CREATE FUNCTION changed_rows_sql(op text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE op
    WHEN 'INSERT' THEN 'SELECT 1 AS sign, * FROM new_rows'
    WHEN 'DELETE' THEN 'SELECT -1 AS sign, * FROM old_rows'
    ELSE 'SELECT 1 AS sign, * FROM new_rows UNION ALL SELECT -1 AS sign, * FROM old_rows'
  END
$$;

-- Groups whose delta is zero are skipped (they need no write and take no lock); the others are
-- upserted in key order, so two transactions touching the same hours lock the same rows in the same
-- order and queue rather than deadlock. A group left with no events is deleted. Hours are UTC
-- whatever the session's TimeZone.
CREATE FUNCTION event_rollup_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  emptied bigint;
BEGIN
  EXECUTE format($sql$
    WITH upserted AS (
      INSERT INTO event_rollup AS r (hour, event_type, product_category, events, units, revenue)
      SELECT date_trunc('hour', event_timestamp, 'UTC'), event_type, product_category,
             sum(sign), sum(sign * quantity),
             sum(CASE WHEN event_type = 'purchase' THEN sign * product_price * quantity ELSE 0 END)
        FROM (%s) AS changed
       GROUP BY 1, 2, 3
      HAVING sum(sign) <> 0 OR sum(sign * quantity) <> 0
          OR sum(CASE WHEN event_type = 'purchase' THEN sign * product_price * quantity ELSE 0 END) <> 0
       ORDER BY 1, 2, 3
      ON CONFLICT (hour, event_type, product_category) DO UPDATE
         SET events = r.events + excluded.events, units = r.units + excluded.units,
             revenue = r.revenue + excluded.revenue
      RETURNING r.events
    )
    SELECT count(*) FROM upserted WHERE events = 0
  $sql$, changed_rows_sql(TG_OP)) INTO emptied;
  -- Groups whose last events were removed go (a statement cannot also delete the rows it upserted).
  IF emptied > 0 THEN
    DELETE FROM event_rollup
     WHERE events = 0 AND hour IN (SELECT date_trunc('hour', event_timestamp, 'UTC') FROM old_rows);
  END IF;
  RETURN NULL;
END $$;

-- A trigger with transition tables answers one event, hence three.
CREATE TRIGGER user_events_rollup_insert AFTER INSERT ON user_events
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION event_rollup_apply();
CREATE TRIGGER user_events_rollup_update AFTER UPDATE ON user_events
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION event_rollup_apply();
CREATE TRIGGER user_events_rollup_delete AFTER DELETE ON user_events
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION event_rollup_apply();

DROP VIEW event_summary;
-- Counts and revenue by UTC hour, type and category, for dashboards and a quick look with psql.
CREATE VIEW event_summary AS
SELECT hour, event_type, product_category, events, units, revenue::numeric(14, 2) AS revenue
  FROM event_rollup;

-- ---- Totals of the ledger and of the rejects -----------------------------------------------------
-- The dashboard and `status` show all-time totals every second. Summing the ledger or the rejects
-- reads every row ever written; these tables keep the sums instead, adjusted by statement triggers.
-- Each connection adds to its own slot (its backend pid modulo 16) so concurrent writers rarely
-- touch the same row; a reader sums the slots (at most 16 rows per status or reason).
--
-- Ledger totals count finished objects (ingested, failed). Unfinished ones (in_progress, missing)
-- are few by nature and read through ingested_objects_open_idx; counting only finished rows also
-- means the claim at the start of every ingest transaction changes no total and locks no slot: a
-- transaction takes its rollup rows, then its slots, always in that order.
CREATE TABLE ledger_totals (
  slot            smallint NOT NULL,
  status          text NOT NULL CHECK (status IN ('ingested', 'failed')),
  objects         bigint NOT NULL,
  budget_failed   bigint NOT NULL,
  rows_total      bigint NOT NULL,
  rows_inserted   bigint NOT NULL,
  rows_duplicate  bigint NOT NULL,
  rows_rejected   bigint NOT NULL,
  PRIMARY KEY (slot, status)
);

CREATE FUNCTION ledger_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format($sql$
    INSERT INTO ledger_totals AS t
    SELECT $1, status, sum(sign), coalesce(sum(sign) FILTER (WHERE error LIKE 'reject\_budget\_exceeded%%'), 0),
           sum(sign * rows_total), sum(sign * rows_inserted), sum(sign * rows_duplicate),
           sum(sign * rows_rejected)
      FROM (%s) AS changed
     WHERE status IN ('ingested', 'failed')
     GROUP BY status
    HAVING sum(sign) <> 0 OR sum(sign * rows_total) <> 0 OR sum(sign * rows_inserted) <> 0
        OR sum(sign * rows_duplicate) <> 0 OR sum(sign * rows_rejected) <> 0
        OR coalesce(sum(sign) FILTER (WHERE error LIKE 'reject\_budget\_exceeded%%'), 0) <> 0
     ORDER BY status
    ON CONFLICT (slot, status) DO UPDATE
       SET objects = t.objects + excluded.objects,
           budget_failed = t.budget_failed + excluded.budget_failed,
           rows_total = t.rows_total + excluded.rows_total, rows_inserted = t.rows_inserted + excluded.rows_inserted,
           rows_duplicate = t.rows_duplicate + excluded.rows_duplicate,
           rows_rejected = t.rows_rejected + excluded.rows_rejected
  $sql$, changed_rows_sql(TG_OP)) USING (pg_backend_pid() % 16)::smallint;
  RETURN NULL;
END $$;

CREATE TRIGGER ingested_objects_totals_insert AFTER INSERT ON ingested_objects
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_totals_apply();
CREATE TRIGGER ingested_objects_totals_update AFTER UPDATE ON ingested_objects
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_totals_apply();
CREATE TRIGGER ingested_objects_totals_delete AFTER DELETE ON ingested_objects
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_totals_apply();

-- Rejected rows per reason, all time (resolved ones included: a reject is history).
CREATE TABLE reject_totals (
  slot    smallint NOT NULL,
  reason  text NOT NULL,
  rows    bigint NOT NULL,
  PRIMARY KEY (slot, reason)
);

CREATE FUNCTION reject_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format($sql$
    INSERT INTO reject_totals AS t
    SELECT $1, reason, sum(sign) FROM (%s) AS changed
     GROUP BY reason HAVING sum(sign) <> 0 ORDER BY reason
    ON CONFLICT (slot, reason) DO UPDATE SET rows = t.rows + excluded.rows
  $sql$, changed_rows_sql(TG_OP)) USING (pg_backend_pid() % 16)::smallint;
  RETURN NULL;
END $$;

CREATE TRIGGER rejected_events_totals_insert AFTER INSERT ON rejected_events
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reject_totals_apply();
CREATE TRIGGER rejected_events_totals_update AFTER UPDATE ON rejected_events
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reject_totals_apply();
CREATE TRIGGER rejected_events_totals_delete AFTER DELETE ON rejected_events
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION reject_totals_apply();

-- ---- Rebuilding the totals ----------------------------------------------------------------------
-- Every maintained total computed afresh from the tables it summarizes: here, for the rows written
-- before this migration; later, after a bulk load that ran with the triggers disabled.
CREATE FUNCTION rebuild_totals() RETURNS void LANGUAGE sql AS $$
  TRUNCATE event_rollup, ledger_totals, reject_totals;
  INSERT INTO event_rollup (hour, event_type, product_category, events, units, revenue)
  SELECT date_trunc('hour', event_timestamp, 'UTC'), event_type, product_category, count(*), sum(quantity),
         sum(CASE WHEN event_type = 'purchase' THEN product_price * quantity ELSE 0 END)
    FROM user_events
   GROUP BY 1, 2, 3;
  INSERT INTO ledger_totals
  SELECT 0, status, count(*), count(*) FILTER (WHERE error LIKE 'reject\_budget\_exceeded%'),
         sum(rows_total), sum(rows_inserted), sum(rows_duplicate), sum(rows_rejected)
    FROM ingested_objects
   WHERE status IN ('ingested', 'failed')
   GROUP BY status;
  INSERT INTO reject_totals SELECT 0, reason, count(*) FROM rejected_events GROUP BY reason;
$$;

SELECT rebuild_totals();
