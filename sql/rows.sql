-- Ingestion rows: written by binary COPY (the few rows whose messages wait for whole-column
-- facts are amended once after it), read back in source order.

-- name: copy_rows :copy
-- Stream a batch's rows in (the record fields follow entities.NewRow).
COPY ingestion_rows (batch_id, position, data, status, validation_messages, source_file_name, source_sheet_name, source_row_index) FROM STDIN;

-- name: set_copy_timeout :exec
-- Let the statements of this transaction (an ingestion's COPY) run for up to $1 milliseconds,
-- instead of the pool's statement_timeout.
SELECT set_config('statement_timeout', $1::text, true);

-- name: amend_rows :exec
-- Give rows of a batch being ingested their final status and messages, by position.
UPDATE ingestion_rows AS r
SET status = a.status, validation_messages = a.validation_messages
FROM unnest($2::integer[], $3::row_status[], $4::jsonb[])
    AS a(position, status, validation_messages)
WHERE r.batch_id = $1::uuid AND r.position = a.position;

-- name: list_rows_for_batch :many
-- A page of a live batch's live rows in source order, optionally of one status only
-- (a NULL limit means all, a NULL status any).
SELECT r.id, r.batch_id, r.position, r.data, r.status, r.validation_messages,
    r.source_file_name, r.source_sheet_name, r.source_row_index, r.created_at, r.updated_at
FROM ingestion_rows AS r
JOIN ingestion_batches AS b ON b.id = r.batch_id AND b.deleted_at IS NULL
WHERE r.batch_id = $1::uuid AND r.deleted_at IS NULL
    AND ($4::row_status IS NULL OR r.status = $4::row_status)
ORDER BY r.position
LIMIT $2::integer OFFSET $3::integer;

-- name: get_row :one
-- One live row of a live batch.
SELECT r.id, r.batch_id, r.position, r.data, r.status, r.validation_messages,
    r.source_file_name, r.source_sheet_name, r.source_row_index, r.created_at, r.updated_at
FROM ingestion_rows AS r
JOIN ingestion_batches AS b ON b.id = r.batch_id AND b.deleted_at IS NULL
WHERE r.id = $1::uuid AND r.batch_id = $2::uuid AND r.deleted_at IS NULL;

-- name: analyze_rows :exec
-- Refresh the planner's statistics after a large load, so that the next page of rows is read
-- through the (batch_id, position) index instead of sorting the whole batch. Only the columns
-- that the reads filter and sort on: sampling the jsonb data would double the cost.
ANALYZE ingestion_rows (batch_id, position, status);
