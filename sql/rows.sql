-- Ingestion rows: written once by binary COPY, read back in source order.

-- name: copy_rows :copy
-- Stream a batch's rows in (the record fields follow entities.NewRow).
COPY ingestion_rows (batch_id, position, data, status, validation_messages, source_file_name, source_sheet_name, source_row_index) FROM STDIN;

-- name: list_rows_for_batch :many
-- A page of a live batch's live rows in source order (a NULL limit means all).
SELECT r.id, r.batch_id, r.position, r.data, r.status, r.validation_messages,
    r.source_file_name, r.source_sheet_name, r.source_row_index, r.created_at, r.updated_at
FROM ingestion_rows AS r
JOIN ingestion_batches AS b ON b.id = r.batch_id AND b.deleted_at IS NULL
WHERE r.batch_id = $1::uuid AND r.deleted_at IS NULL
ORDER BY r.position
LIMIT $2::integer OFFSET $3::integer;

-- name: count_rows_by_status :one
-- How many live rows of a batch are valid, warning and error.
SELECT count(*) FILTER (WHERE status = 'valid') AS valid,
    count(*) FILTER (WHERE status = 'warning') AS warning,
    count(*) FILTER (WHERE status = 'error') AS error
FROM ingestion_rows
WHERE batch_id = $1::uuid AND deleted_at IS NULL;
