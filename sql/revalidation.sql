-- Re-validation of a pending batch against a version of its project's schema (issue 18): in
-- one transaction that holds the batch row, the live rows are read in pages by position, the
-- rows whose messages or status change are rewritten, and the batch's counts recounted.

-- name: lock_batch_for_validation :one
-- A live batch's status and columns, its row locked until the end of the transaction (a
-- review of the same batch waits for the re-validation, or the other way round).
SELECT status, column_metadata
FROM ingestion_batches
WHERE id = $1::uuid AND deleted_at IS NULL
FOR UPDATE;

-- name: list_rows_for_validation :many
-- A page of a batch's live rows after a position, in source order (through the
-- (batch_id, position) index, so every page costs the same).
SELECT id, position, data, status, validation_messages
FROM ingestion_rows
WHERE batch_id = $1::uuid AND deleted_at IS NULL AND position > $2::integer
ORDER BY position
LIMIT $3::integer;

-- name: rewrite_row_validation :exec
-- New statuses ($3) and messages ($4, a JSON array: one array of messages per row) of rows
-- of one batch, by id ($2).
UPDATE ingestion_rows AS r
SET status = u.status::row_status,
    validation_messages = $4::jsonb -> (u.ordinal::integer - 1),
    updated_at = now()
FROM unnest($2::uuid[], $3::text[]) WITH ORDINALITY AS u (id, status, ordinal)
WHERE r.id = u.id AND r.batch_id = $1::uuid;

-- name: count_rows_by_status :one
-- How many live rows of a batch have each status.
SELECT count(*) FILTER (WHERE status = 'valid') AS valid,
    count(*) FILTER (WHERE status = 'warning') AS warning,
    count(*) FILTER (WHERE status = 'error') AS error
FROM ingestion_rows
WHERE batch_id = $1::uuid AND deleted_at IS NULL;

-- name: count_rows_changed_now :scalar
-- How many live rows of a batch this transaction has rewritten (their `updated_at` is the
-- transaction's own `now()`).
SELECT count(*)
FROM ingestion_rows
WHERE batch_id = $1::uuid AND deleted_at IS NULL AND updated_at = now();

-- name: record_batch_validation :exec
-- The status counts after a re-validation, and the schema version it used.
UPDATE ingestion_batches
SET valid_count = $2::integer, warning_count = $3::integer, error_count = $4::integer,
    schema_version = $5::integer, updated_at = now()
WHERE id = $1::uuid;
