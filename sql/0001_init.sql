-- Core schema: events, rejects, the per-object ledger, and a summary view.
-- Applied once, in a transaction, by functions/shared/migrate.ts (npm run migrate / the deploy trigger).

-- One row per distinct valid event. The primary key is the idempotency key: redelivered
-- notifications, replays and duplicate event_ids all collapse onto it (ON CONFLICT DO NOTHING).
CREATE TABLE user_events (
  event_id          uuid PRIMARY KEY,
  event_type        text NOT NULL CHECK (event_type IN ('view', 'add_to_cart', 'remove_from_cart', 'purchase', 'wishlist')),
  user_id           text NOT NULL,
  session_id        text NOT NULL,
  product_id        text NOT NULL,
  product_name      text NOT NULL,
  product_category  text NOT NULL,
  product_price     numeric(10, 2) NOT NULL CHECK (product_price >= 0),
  quantity          integer NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
  device_type       text NOT NULL CHECK (device_type IN ('mobile', 'desktop', 'tablet')),
  event_timestamp   timestamptz NOT NULL,
  source_bucket     text NOT NULL,
  source_key        text NOT NULL,
  source_line       integer NOT NULL,
  ingested_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX user_events_event_timestamp_idx ON user_events (event_timestamp);
CREATE INDEX user_events_user_id_idx ON user_events (user_id, event_timestamp);
CREATE INDEX user_events_type_time_idx ON user_events (event_type, event_timestamp);

-- Rows that broke a rule, kept with the reason and their raw text: nothing is dropped silently.
-- Unique per object version and line, so replaying an object does not store its rejects twice.
CREATE TABLE rejected_events (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source_bucket  text NOT NULL,
  source_key     text NOT NULL,
  source_etag    text NOT NULL,
  line_number    integer NOT NULL,
  reason         text NOT NULL,
  raw_line       text NOT NULL,
  rejected_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source_bucket, source_key, source_etag, line_number)
);

CREATE INDEX rejected_events_reason_idx ON rejected_events (reason, rejected_at);
CREATE INDEX rejected_events_rejected_at_idx ON rejected_events (rejected_at);

-- The ledger: one row per object version. A row here means the object was handled completely
-- (its rows, rejects and this row committed in one transaction); redeliveries are acknowledged at once.
CREATE TABLE ingested_objects (
  bucket             text NOT NULL,
  key                text NOT NULL,
  etag               text NOT NULL,
  size               bigint,
  status             text NOT NULL CHECK (status IN ('ingested', 'failed')),
  error              text,
  rows_total         integer NOT NULL DEFAULT 0,
  rows_inserted      integer NOT NULL DEFAULT 0,
  rows_duplicate     integer NOT NULL DEFAULT 0,
  rows_rejected      integer NOT NULL DEFAULT 0,
  object_created_at  timestamptz,
  first_seen_at      timestamptz NOT NULL DEFAULT now(),
  ingested_at        timestamptz,
  PRIMARY KEY (bucket, key, etag),
  CONSTRAINT ingested_objects_counts_add_up
    CHECK (rows_total = rows_inserted + rows_duplicate + rows_rejected)
);

CREATE INDEX ingested_objects_ingested_at_idx ON ingested_objects (ingested_at);

-- Counts and revenue by type, category and hour, for dashboards and a quick look with psql.
CREATE VIEW event_summary AS
SELECT
  date_trunc('hour', event_timestamp) AS hour,
  event_type,
  product_category,
  count(*) AS events,
  count(DISTINCT user_id) AS users,
  sum(quantity) AS units,
  sum(CASE WHEN event_type = 'purchase' THEN product_price * quantity ELSE 0 END)::numeric(14, 2) AS revenue
FROM user_events
GROUP BY 1, 2, 3;
