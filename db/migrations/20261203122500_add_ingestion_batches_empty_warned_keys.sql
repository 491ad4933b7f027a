-- migrate:up
-- The keys of a batch whose columns warn an empty value (`empty`, spec §4.5: filled in at
-- least 95 % of their rows at upload), found on the first edit that empties a value and kept:
-- finding them reads every row of the batch, too slow for each such edit. NULL: not found yet.
-- Nothing is written at COPY time.
ALTER TABLE ingestion_batches ADD COLUMN empty_warned_keys text[];

-- migrate:down
ALTER TABLE ingestion_batches DROP COLUMN empty_warned_keys;
