-- migrate:up
-- A batch's settings (README, "Batch settings"): a display name, by default its first file's
-- name (existing batches: the file of their first row, or '' for a batch without rows), and
-- the keys that identify a row to a person (both optional, each one of the batch's keys).
ALTER TABLE ingestion_batches
    ADD COLUMN name text NOT NULL DEFAULT '',
    ADD COLUMN identifier_field_key text,
    ADD COLUMN secondary_field_key text;

UPDATE ingestion_batches AS b
SET name = r.source_file_name
FROM ingestion_rows AS r
WHERE r.batch_id = b.id AND r.position = 0;

ALTER TABLE ingestion_batches ALTER COLUMN name DROP DEFAULT;

-- migrate:down
ALTER TABLE ingestion_batches
    DROP COLUMN name,
    DROP COLUMN identifier_field_key,
    DROP COLUMN secondary_field_key;
