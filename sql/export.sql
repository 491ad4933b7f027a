-- Exports: a batch's rows (or the completed batches of a project) as CSV, NDJSON or XLSX,
-- in source order, read inside one read-only transaction held for the whole download.
-- PostgreSQL writes each row's JSON itself (run through COPY … TO STDOUT): the NDJSON file,
-- and what the service makes the CSV records of; the XLSX cells come through a cursor. JSON keys arrive as parameters, never as identifiers.
-- Extra XLSX columns (the batch, the provenance) are read from pseudo-keys that begin with
-- a space, which no row key can (keys are normalized to [a-z0-9_] or A1 addresses).
-- Every export query takes the batch as $1, the statuses of a report as $2 (NULL: any), and
-- its last four parameters are the rows-list filter of `service.row_filter.RowFilter.arguments`
-- (status, delivery, the pattern of q, where), stated as in sql/row_filter.sql.

-- name: set_export_timeout :exec
-- Let the statements of this transaction (an export's COPY, read as fast as its client
-- downloads) run for up to $1 milliseconds, instead of the pool's statement_timeout.
SELECT set_config('statement_timeout', $1::text, true);

-- name: list_completed_batches :many
-- The live completed batches of live project $1 owned by user $2, oldest first: what a
-- project export reads, in that order (without their delivery counts: an export needs none).
SELECT b.id, b.project_id, b.user_id, b.mode, b.status, b.file_count, b.row_count,
    b.column_metadata,
    batch_status_counts(b) AS status_counts,
    b.name, b.identifier_field_key, b.secondary_field_key,
    NULL::jsonb AS delivery_counts,
    b.schema_version, b.review_note, b.created_at, b.updated_at
FROM ingestion_batches AS b
JOIN projects AS p ON p.id = b.project_id AND p.deleted_at IS NULL
WHERE b.project_id = $1::uuid AND p.user_id = $2::uuid AND b.deleted_at IS NULL
    AND b.status = 'completed'
ORDER BY b.created_at, b.id;

-- name: export_ndjson_lines :many
-- One JSON text per live row of batch $1 (statuses $2, filter $6-$9), in source order: the row's
-- data exactly as stored, or with $3 an object of the batch id ($4), the data and, with $5,
-- its provenance. json_build_object keeps this key order (a jsonb object would sort it).
SELECT CASE WHEN $3::boolean
    THEN '{' || CASE WHEN $4::boolean THEN '"batchId": "' || r.batch_id || '", ' ELSE '' END
        || '"data": ' || r.data::text
        || CASE WHEN $5::boolean THEN ', "sourceFileName": ' || to_json(r.source_file_name)::text
            || ', "sourceSheetName": ' || to_json(r.source_sheet_name)::text
            || ', "sourceRowIndex": ' || r.source_row_index
        ELSE '' END || '}'
    ELSE r.data::text END AS line
FROM ingestion_rows AS r
JOIN ingestion_batches AS b ON b.id = r.batch_id
WHERE r.batch_id = $1::uuid AND r.deleted_at IS NULL
    AND ($2::row_status[] IS NULL OR r.status = ANY($2::row_status[]))
    AND ($6::row_status IS NULL OR r.status = $6::row_status)
    AND ($7::delivery_status IS NULL
        OR (b.status = 'completed' AND r.delivery_status = $7::delivery_status))
    AND ($8::text IS NULL OR (
        (starts_with($8::text, '***:') OR r.data::text ~ $8::text)
        AND (SELECT string_agg(e.value, chr(31)) FROM jsonb_each_text(r.data) AS e(key, value))
            ~ $8::text))
    AND NOT EXISTS (
        SELECT 1 FROM jsonb_each($9::jsonb) AS w(key, accepted)
        WHERE NOT w.accepted @> jsonb_build_array(r.data -> w.key)
    )
ORDER BY r.position;

-- name: export_cells :many
-- The cells of the live rows of batch $1 (statuses $2, filter $6-$9), in source order: a JSON
-- array of the values of keys $3 (with $4, also the pseudo-keys " batchId", " sourceFileName",
-- " sourceSheetName" and " sourceRowIndex"), with the row's
-- id, and with $5 its validation messages (else an empty array).
SELECT r.id,
    CASE WHEN $5::boolean THEN r.validation_messages ELSE '[]'::jsonb END
        AS validation_messages,
    (SELECT coalesce(jsonb_agg(d.data -> k.key ORDER BY k.ordinal), '[]'::jsonb)
        FROM unnest($3::text[]) WITH ORDINALITY AS k(key, ordinal)) AS cells
FROM ingestion_rows AS r
CROSS JOIN LATERAL (
    SELECT CASE WHEN $4::boolean
        THEN r.data || jsonb_build_object(' batchId', r.batch_id,
            ' sourceFileName', r.source_file_name, ' sourceSheetName', r.source_sheet_name,
            ' sourceRowIndex', r.source_row_index)
        ELSE r.data END AS data
) AS d
JOIN ingestion_batches AS b ON b.id = r.batch_id
WHERE r.batch_id = $1::uuid AND r.deleted_at IS NULL
    AND ($2::row_status[] IS NULL OR r.status = ANY($2::row_status[]))
    AND ($6::row_status IS NULL OR r.status = $6::row_status)
    AND ($7::delivery_status IS NULL
        OR (b.status = 'completed' AND r.delivery_status = $7::delivery_status))
    AND ($8::text IS NULL OR (
        (starts_with($8::text, '***:') OR r.data::text ~ $8::text)
        AND (SELECT string_agg(e.value, chr(31)) FROM jsonb_each_text(r.data) AS e(key, value))
            ~ $8::text))
    AND NOT EXISTS (
        SELECT 1 FROM jsonb_each($9::jsonb) AS w(key, accepted)
        WHERE NOT w.accepted @> jsonb_build_array(r.data -> w.key)
    )
ORDER BY r.position;

-- name: list_row_cells_by_id :many
-- The values of keys $3 of the live rows of batch $1 whose ids are in $2 (a corrected
-- report's rows): a JSON array per row, in key order; ids of other batches find nothing.
SELECT r.id,
    (SELECT coalesce(jsonb_agg(r.data -> k.key ORDER BY k.ordinal), '[]'::jsonb)
        FROM unnest($3::text[]) WITH ORDINALITY AS k(key, ordinal)) AS cells
FROM ingestion_rows AS r
WHERE r.batch_id = $1::uuid AND r.id = ANY($2::uuid[]) AND r.deleted_at IS NULL;
