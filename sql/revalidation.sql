-- Re-validation of a pending batch against a version of its project's schema (issue 18): in
-- one transaction that holds the batch row, the live rows are read in pages by position, the
-- rows whose messages or status change are rewritten, and the batch's counts recorded.

-- name: lock_batch_for_validation :one
-- A live batch's status, columns and status counts, its row locked until the end of the
-- transaction (a review of the same batch waits for the re-validation, or the other way
-- round).
SELECT status, column_metadata, schema_version,
    batch_status_counts(ingestion_batches) AS status_counts
FROM ingestion_batches
WHERE id = $1::uuid AND deleted_at IS NULL
FOR UPDATE;

-- name: list_rows_for_validation :many
-- A page of a batch's live rows after a position, in source order (through the
-- (batch_id, position) index, so every page costs the same); `touched`: this transaction
-- has rewritten the row already.
SELECT id, position, data, status, validation_messages, updated_at = now() AS touched
FROM ingestion_rows
WHERE batch_id = $1::uuid AND deleted_at IS NULL AND position > $2::integer
ORDER BY position
LIMIT $3::integer;

-- name: rewrite_row_validation :exec
-- New statuses ($3) and messages ($4, a JSON array: one array of messages per row) of rows
-- of one batch, by id ($2); a row's version goes up once per transaction (its `unique`
-- recheck may have bumped it already).
UPDATE ingestion_rows AS r
SET status = u.status::row_status,
    validation_messages = $4::jsonb -> (u.ordinal::integer - 1),
    version = CASE WHEN r.updated_at = now() THEN r.version ELSE r.version + 1 END,
    updated_at = now()
FROM unnest($2::uuid[], $3::text[]) WITH ORDINALITY AS u (id, status, ordinal)
WHERE r.id = u.id AND r.batch_id = $1::uuid;

-- name: record_batch_validation :exec
-- The status counts after a re-validation ($2-$4) and the schema version it used ($5), with
-- one batch event by actor $6 of kind $7: the counts and schema version before ($8) and
-- after ($9).
WITH recorded AS (
    UPDATE ingestion_batches
    SET valid_count = $2::integer, warning_count = $3::integer, error_count = $4::integer,
        schema_version = $5::integer, updated_at = now()
    WHERE id = $1::uuid
    RETURNING id
)
INSERT INTO ingestion_events (batch_id, actor_id, kind, before, after)
SELECT id, $6::uuid, $7::text, $8::jsonb, $9::jsonb FROM recorded;
