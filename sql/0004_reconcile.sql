-- Reconciliation: objects in the bucket whose notification was lost.
--
-- A scheduled run lists the bucket under the notification prefix, compares each object version
-- with the ledger (ingested_objects) and sends an S3 notification to the ingest queue for every
-- version that has no ledger row, is recorded as 'missing', or is 'in_progress' without a commit for
-- longer than its continuation could take. Each run lists a bounded number of keys and goes on
-- where the previous one stopped: the cursor below.

-- Where the next run of each (bucket, prefix) starts listing: after start_after, or at the
-- beginning when it is NULL (the previous run reached the end of the listing).
CREATE TABLE reconcile_cursors (
  bucket           text NOT NULL,
  prefix           text NOT NULL,
  start_after      text,
  pass_started_at  timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (bucket, prefix)
);

-- One row per notification a reconciliation sent, with the reason: lost notifications are a fault
-- worth knowing about, and this is the record of which objects they hit and when.
CREATE TABLE reconciled_objects (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  bucket         text NOT NULL,
  key            text NOT NULL,
  etag           text NOT NULL,
  size           bigint,
  last_modified  timestamptz,
  reason         text NOT NULL CHECK (reason IN ('unrecorded', 'missing', 'stalled')),
  reconciled_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX reconciled_objects_reconciled_at_idx ON reconciled_objects (reconciled_at);
CREATE INDEX reconciled_objects_object_idx ON reconciled_objects (bucket, key, etag);

COMMENT ON COLUMN reconciled_objects.reason IS
  'unrecorded: no ledger row; missing: the ledger says it was not in the bucket, but now it is; stalled: in_progress without a commit for longer than a continuation takes.';
