-- migrate:up
-- Only what a claim can take: rows claimed before and pending again (retries) or in progress
-- (leases that may run out). Rows in `error` wait for a report, not a claim, so a claim that
-- walked them read every failure of the batch to find its few retries.
DROP INDEX idx_ingestion_rows_redelivery;

CREATE INDEX idx_ingestion_rows_redelivery ON ingestion_rows (batch_id, position)
    WHERE delivery_attempts > 0 AND delivery_status IN ('pending', 'in_progress');

-- migrate:down
DROP INDEX idx_ingestion_rows_redelivery;

CREATE INDEX idx_ingestion_rows_redelivery ON ingestion_rows (batch_id, position)
    WHERE delivery_attempts > 0 AND delivery_status <> 'done';
