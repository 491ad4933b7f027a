-- migrate:up
-- When a batch was reviewed (completed or failed), set by the review statement only: the
-- remembered mapping of a header is the last *reviewed* batch's, which `updated_at` (moved by
-- any rename or label) cannot tell. Batches reviewed before this column existed take their
-- `updated_at`, the best record of their review there is.
ALTER TABLE ingestion_batches ADD COLUMN reviewed_at timestamptz;

UPDATE ingestion_batches SET reviewed_at = updated_at WHERE status IN ('completed', 'failed');

DROP INDEX idx_ingestion_batches_completed_header;

CREATE INDEX idx_ingestion_batches_completed_header
    ON ingestion_batches (project_id, header_fingerprint, reviewed_at DESC, id DESC)
    WHERE status = 'completed' AND deleted_at IS NULL;

-- migrate:down
DROP INDEX idx_ingestion_batches_completed_header;

CREATE INDEX idx_ingestion_batches_completed_header
    ON ingestion_batches (project_id, header_fingerprint, updated_at DESC, id DESC)
    WHERE status = 'completed' AND deleted_at IS NULL;

ALTER TABLE ingestion_batches DROP COLUMN reviewed_at;
