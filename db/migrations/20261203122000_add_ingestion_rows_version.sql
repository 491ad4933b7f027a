-- migrate:up
-- Optimistic concurrency for row edits: every row carries a version, 1 as copied, bumped by
-- the UPDATE that changes the row (`… WHERE id = $1 AND version = $2`), sent as its ETag.
-- A constant default: adding the column rewrites nothing, and COPY does not name it.
ALTER TABLE ingestion_rows ADD COLUMN version integer NOT NULL DEFAULT 1;

-- migrate:down
ALTER TABLE ingestion_rows DROP COLUMN version;
