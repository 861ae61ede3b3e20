-- The ledger learns chunked, resumable ingest.
--
-- A large object is committed in chunks; between commits its ledger row says 'in_progress' and
-- holds a checkpoint: the byte offset just after the last committed record (in the object's
-- decoded bytes), how many physical lines that covers, and the header, so any worker can resume
-- with a ranged GET without re-reading or re-writing committed rows. The counts are cumulative and
-- add up at every commit (the CHECK of 0001 still holds).
--
-- 'missing' replaces the terminal 'failed object_missing': an object that was not there when its
-- notification arrived (deleted, or the notification raced the upload) is recorded, but a later
-- notification, replay or reconciliation for the same version ingests it.

ALTER TABLE ingested_objects DROP CONSTRAINT ingested_objects_status_check;
ALTER TABLE ingested_objects ADD CONSTRAINT ingested_objects_status_check
  CHECK (status IN ('in_progress', 'ingested', 'failed', 'missing'));

ALTER TABLE ingested_objects
  ADD COLUMN resume_offset  bigint  NOT NULL DEFAULT 0,
  ADD COLUMN lines_read     integer NOT NULL DEFAULT 0,
  ADD COLUMN header         text,
  ADD COLUMN chunks         integer NOT NULL DEFAULT 0,
  ADD COLUMN continuations  integer NOT NULL DEFAULT 0,
  ADD COLUMN updated_at     timestamptz;

COMMENT ON COLUMN ingested_objects.resume_offset IS
  'Bytes of the object (after decompression) covered by committed chunks; a resume reads from here.';
COMMENT ON COLUMN ingested_objects.lines_read IS
  'Physical lines (header included) covered by committed chunks; the next record starts on line lines_read + 1.';
COMMENT ON COLUMN ingested_objects.header IS 'The header record as read, so a resumed read knows the columns.';
COMMENT ON COLUMN ingested_objects.chunks IS 'Transactions that committed rows of this object.';
COMMENT ON COLUMN ingested_objects.continuations IS
  'Times ingest stopped before its deadline and continued the object in a new invocation.';

-- Objects to look at: unfinished ones, for status views and reconciliation.
CREATE INDEX ingested_objects_open_idx ON ingested_objects (updated_at)
  WHERE status IN ('in_progress', 'missing');
