-- Ingestion rows: written by binary COPY (the few rows whose messages wait for whole-column
-- facts are amended once after it), read back in source order.

-- name: copy_rows :copy
-- Stream a batch's rows in (the batch id, then the fields of entities.RowRecord).
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
    r.source_file_name, r.source_sheet_name, r.source_row_index, r.version,
    CASE WHEN b.status = 'completed' THEN jsonb_build_object(
        'status', r.delivery_status, 'message', r.delivery_message, 'step', r.delivery_step,
        'attempts', r.delivery_attempts, 'lease_until', r.delivery_lease_until,
        'updated_at', r.delivery_updated_at
    ) END AS delivery,
    r.created_at, r.updated_at
FROM ingestion_rows AS r
JOIN ingestion_batches AS b ON b.id = r.batch_id AND b.deleted_at IS NULL
WHERE r.batch_id = $1::uuid AND r.deleted_at IS NULL
    AND ($4::row_status IS NULL OR r.status = $4::row_status)
ORDER BY r.position
LIMIT $2::integer OFFSET $3::integer;

-- name: get_row_page_json :scalar
-- The JSON body of GET …/rows: a page of the live rows of batch $1 of project $2 owned by
-- user $3, in source order, optionally of status $6 only, with the total; NULL when no such
-- live batch exists. PostgreSQL builds the JSON: the rows' jsonb is never decoded and
-- encoded again by the service. Without a status filter the page is a range of positions,
-- found through the (batch_id, position) index however deep: the row at offset k is at
-- position k plus the number of rows deleted one by one before it (counted from the
-- partial index of deleted rows: each deleted row d_i, in position order, comes before it
-- when the live rows before d_i, d_i - (i - 1), are at most k). With a status filter the
-- matching rows are counted off.
-- The page stops before the row that would take its items past $7 bytes of JSON (a running
-- sum; the first row always comes), and `next` is $8 followed by the offset of the first row
-- left out, or null when no matching row follows the page.
-- Timestamps are written as msgspec writes them elsewhere (UTC, `Z`, microseconds if any).
SELECT json_build_object(
    'items', coalesce(page.items, '[]'::json),
    'total', counted.total,
    'limit', $4::integer,
    'offset', $5::integer,
    'next', CASE WHEN $5::integer::bigint + page.kept < counted.total
        THEN $8::text || ($5::integer::bigint + page.kept) END
)
FROM ingestion_batches AS b
JOIN projects AS p ON p.id = b.project_id AND p.deleted_at IS NULL
CROSS JOIN LATERAL (
    SELECT CASE $6::row_status
        WHEN 'valid' THEN b.valid_count
        WHEN 'warning' THEN b.warning_count
        WHEN 'error' THEN b.error_count
        ELSE b.row_count END AS total
) AS counted
CROSS JOIN LATERAL (
    SELECT $5::integer + count(*)::integer AS position
    FROM (
        SELECT position - (row_number() OVER (ORDER BY position) - 1) AS live_before
        FROM ingestion_rows
        WHERE batch_id = b.id AND deleted_at IS NOT NULL
    ) AS deleted
    WHERE $6::row_status IS NULL AND deleted.live_before <= $5::integer
) AS start
CROSS JOIN LATERAL (
    SELECT json_agg(sized.item ORDER BY sized.position) AS items, count(*) AS kept
    FROM (
        SELECT built.position, built.item,
            row_number() OVER (ORDER BY built.position) AS ordinal,
            sum(pg_column_size(built.item)) OVER (ORDER BY built.position) AS bytes
        FROM (
            -- Each row's JSON is built once, here (OFFSET 0 keeps the planner from building
            -- it again for the running sum), and only for the rows of the page: in `r`, a
            -- status filter's OFFSET reads the rows before the page too.
            SELECT r.position, json_build_object(
                'id', r.id,
                'batchId', r.batch_id,
                'data', r.data,
                'status', r.status,
                'validationMessages', r.validation_messages,
                'sourceFileName', r.source_file_name,
                'sourceSheetName', r.source_sheet_name,
                'sourceRowIndex', r.source_row_index,
                'version', r.version,
                'delivery', CASE WHEN b.status = 'completed' THEN json_build_object(
                    'status', r.delivery_status,
                    'message', r.delivery_message,
                    'step', r.delivery_step,
                    'attempts', r.delivery_attempts,
                    'leaseUntil', to_char(r.delivery_lease_until AT TIME ZONE 'UTC',
                    CASE WHEN extract(microseconds FROM r.delivery_lease_until)::integer % 1000000 = 0
                    THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END),
                    'updatedAt', to_char(r.delivery_updated_at AT TIME ZONE 'UTC',
                    CASE WHEN extract(microseconds FROM r.delivery_updated_at)::integer % 1000000 = 0
                    THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)
                ) END,
                'createdAt', to_char(r.created_at AT TIME ZONE 'UTC',
                    CASE WHEN extract(microseconds FROM r.created_at)::integer % 1000000 = 0
                    THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END),
                'updatedAt', to_char(r.updated_at AT TIME ZONE 'UTC',
                    CASE WHEN extract(microseconds FROM r.updated_at)::integer % 1000000 = 0
                    THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)
            ) AS item
            FROM (
                SELECT id, batch_id, position, data, status, validation_messages,
                    source_file_name, source_sheet_name, source_row_index, version,
                    delivery_status, delivery_message, delivery_step, delivery_attempts,
                    delivery_lease_until, delivery_updated_at, created_at, updated_at
                FROM ingestion_rows
                WHERE batch_id = b.id AND deleted_at IS NULL
                    AND position >= CASE WHEN $6::row_status IS NULL THEN start.position ELSE 0 END
                    AND ($6::row_status IS NULL OR status = $6::row_status)
                ORDER BY position
                LIMIT $4::integer
                OFFSET CASE WHEN $6::row_status IS NULL THEN 0 ELSE $5::integer END
            ) AS r
            OFFSET 0
        ) AS built
    ) AS sized
    WHERE sized.ordinal = 1 OR sized.bytes <= $7::bigint
) AS page
WHERE b.id = $1::uuid AND b.project_id = $2::uuid AND p.user_id = $3::uuid
    AND b.deleted_at IS NULL;

-- name: get_row :one
-- One live row of a live batch.
SELECT r.id, r.batch_id, r.position, r.data, r.status, r.validation_messages,
    r.source_file_name, r.source_sheet_name, r.source_row_index, r.version,
    CASE WHEN b.status = 'completed' THEN jsonb_build_object(
        'status', r.delivery_status, 'message', r.delivery_message, 'step', r.delivery_step,
        'attempts', r.delivery_attempts, 'lease_until', r.delivery_lease_until,
        'updated_at', r.delivery_updated_at
    ) END AS delivery,
    r.created_at, r.updated_at
FROM ingestion_rows AS r
JOIN ingestion_batches AS b ON b.id = r.batch_id AND b.deleted_at IS NULL
WHERE r.id = $1::uuid AND r.batch_id = $2::uuid AND r.deleted_at IS NULL;

-- name: analyze_rows :exec
-- Refresh the planner's statistics after a large load, so that the next page of rows is read
-- through the (batch_id, position) index instead of sorting the whole batch. Only the columns
-- that the reads filter and sort on: sampling the jsonb data would double the cost.
ANALYZE ingestion_rows (batch_id, position, status);
