-- migrate:up
-- How many rows of the batch are valid / warning / error, written once at the end of the
-- ingestion (rows never change status afterwards), so that every batch body can show them
-- without counting up to a million rows per request.
ALTER TABLE ingestion_batches
    ADD COLUMN valid_count integer NOT NULL DEFAULT 0,
    ADD COLUMN warning_count integer NOT NULL DEFAULT 0,
    ADD COLUMN error_count integer NOT NULL DEFAULT 0;

UPDATE ingestion_batches AS b
SET valid_count = c.valid, warning_count = c.warning, error_count = c.error
FROM (
    SELECT batch_id,
        count(*) FILTER (WHERE status = 'valid')::integer AS valid,
        count(*) FILTER (WHERE status = 'warning')::integer AS warning,
        count(*) FILTER (WHERE status = 'error')::integer AS error
    FROM ingestion_rows
    WHERE deleted_at IS NULL
    GROUP BY batch_id
) AS c
WHERE c.batch_id = b.id;

-- migrate:down
ALTER TABLE ingestion_batches
    DROP COLUMN valid_count,
    DROP COLUMN warning_count,
    DROP COLUMN error_count;
