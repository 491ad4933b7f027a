-- migrate:up
-- Delivery of a completed batch's rows to the automations that consume them one by one
-- (README, "Delivery"): each row's state, message, step, lease and attempts, and on the batch
-- the counts of each state and the claim cursor (rows at positions from it on were never
-- claimed). Every new column has a constant default or none, so this adds them without
-- rewriting the table (bench/README.md, "Delivery columns", has their cost per row copied).
CREATE TYPE delivery_status AS ENUM ('pending', 'in_progress', 'done', 'error');

ALTER TABLE ingestion_rows
    ADD COLUMN delivery_status delivery_status NOT NULL DEFAULT 'pending',
    ADD COLUMN delivery_message text,
    ADD COLUMN delivery_step text,
    ADD COLUMN delivery_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN delivery_lease_until timestamptz,
    ADD COLUMN delivery_updated_at timestamptz;

-- The rows claimed at least once and not done: leases that may run out, errors, retries.
-- Never-claimed rows are found through the batch's cursor and uq_ingestion_rows_batch_position,
-- so an upload's COPY adds nothing here (its rows have no attempts yet).
CREATE INDEX idx_ingestion_rows_redelivery ON ingestion_rows (batch_id, position)
    WHERE delivery_attempts > 0 AND delivery_status <> 'done';

ALTER TABLE ingestion_batches
    ADD COLUMN delivery_cursor integer NOT NULL DEFAULT 0,
    ADD COLUMN delivery_in_progress_count integer NOT NULL DEFAULT 0,
    ADD COLUMN delivery_done_count integer NOT NULL DEFAULT 0,
    ADD COLUMN delivery_error_count integer NOT NULL DEFAULT 0;

-- migrate:down
ALTER TABLE ingestion_batches
    DROP COLUMN delivery_cursor,
    DROP COLUMN delivery_in_progress_count,
    DROP COLUMN delivery_done_count,
    DROP COLUMN delivery_error_count;

DROP INDEX idx_ingestion_rows_redelivery;

ALTER TABLE ingestion_rows
    DROP COLUMN delivery_status,
    DROP COLUMN delivery_message,
    DROP COLUMN delivery_step,
    DROP COLUMN delivery_attempts,
    DROP COLUMN delivery_lease_until,
    DROP COLUMN delivery_updated_at;

DROP TYPE delivery_status;
