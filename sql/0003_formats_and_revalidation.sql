-- Compressed objects, files with more columns than the event has, and re-checked rejects.

-- Values of columns the event does not have, per row, as {column: value}: a file may carry more
-- columns than the event (a producer added one) without failing. NULL when the file had none.
ALTER TABLE user_events ADD COLUMN extra jsonb;

-- How an object's content was encoded (gzip, zstd; NULL for plain text), the columns its header
-- named beyond the event's, and a fingerprint of the header (the column names as read, in order),
-- to find the objects written by one producer's format.
ALTER TABLE ingested_objects
  ADD COLUMN encoding           text CHECK (encoding IN ('gzip', 'zstd')),
  ADD COLUMN extra_columns      text[],
  ADD COLUMN header_fingerprint text;

COMMENT ON COLUMN ingested_objects.size IS 'Size of the object in S3 (compressed size for a compressed object).';
COMMENT ON COLUMN ingested_objects.resume_offset IS
  'Bytes of the object''s content (after decompression) covered by committed chunks: a resume reads from here; once finished, the decompressed size.';

-- A rejected row that passes the rules after they changed (npm run revalidate) is inserted and its
-- reject kept, marked resolved: as 'inserted', or 'duplicate' when its event_id was already stored.
ALTER TABLE rejected_events
  ADD COLUMN resolved_at timestamptz,
  ADD COLUMN resolution  text CHECK (resolution IN ('inserted', 'duplicate')),
  ADD CONSTRAINT rejected_events_resolution_complete CHECK ((resolved_at IS NULL) = (resolution IS NULL));

CREATE INDEX rejected_events_unresolved_idx ON rejected_events (reason, rejected_at) WHERE resolved_at IS NULL;
