-- migrate:up
-- Per-key statistics of a batch (present, empty, distinct counts), computed on first request
-- and kept: a batch's rows never change after ingestion, and counting distinct JSONB values
-- over a large batch takes seconds. NULL means "not computed yet".
ALTER TABLE ingestion_batches ADD COLUMN field_stats jsonb;

-- migrate:down
ALTER TABLE ingestion_batches DROP COLUMN field_stats;
