-- Ingestion batches: one per upload, created pending review with their row count and column
-- metadata, in the same transaction as their rows.

-- name: create_batch :one
-- A new batch, pending review; its rows are copied in by the same transaction.
INSERT INTO ingestion_batches (project_id, user_id, mode, file_count, row_count, column_metadata)
VALUES ($1::uuid, $2::uuid, $3::batch_mode, $4::integer, $5::integer, $6::jsonb)
RETURNING id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    jsonb_build_object('valid', valid_count, 'warning', warning_count, 'error', error_count)
        AS status_counts,
    schema_version, review_note, created_at, updated_at;

-- name: get_batch :one
-- One live batch by id.
SELECT id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    jsonb_build_object('valid', valid_count, 'warning', warning_count, 'error', error_count)
        AS status_counts,
    schema_version, review_note, created_at, updated_at
FROM ingestion_batches
WHERE id = $1::uuid AND deleted_at IS NULL;

-- name: list_batches_for_project :many
-- A project's live batches, newest first (id breaks ties).
SELECT id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    jsonb_build_object('valid', valid_count, 'warning', warning_count, 'error', error_count)
        AS status_counts,
    schema_version, review_note, created_at, updated_at
FROM ingestion_batches
WHERE project_id = $1::uuid AND deleted_at IS NULL
ORDER BY created_at DESC, id DESC
LIMIT $2::integer OFFSET $3::integer;

-- name: count_batches_for_project :scalar
-- How many live batches a project has.
SELECT count(*) FROM ingestion_batches WHERE project_id = $1::uuid AND deleted_at IS NULL;

-- name: get_batch_for_owner :one
-- One live batch of one live project of this owner.
SELECT b.id, b.project_id, b.user_id, b.mode, b.status, b.file_count, b.row_count,
    b.column_metadata,
    jsonb_build_object('valid', b.valid_count, 'warning', b.warning_count, 'error', b.error_count)
        AS status_counts,
    b.schema_version, b.review_note, b.created_at, b.updated_at
FROM ingestion_batches AS b
JOIN projects AS p ON p.id = b.project_id AND p.deleted_at IS NULL
WHERE b.id = $1::uuid AND b.project_id = $2::uuid AND p.user_id = $3::uuid
    AND b.deleted_at IS NULL;

-- name: finish_batch :one
-- Record what the end of an ingestion knows: the row count, the columns with their inferred
-- types, how many rows are valid, warning and error, the schema version the rows follow,
-- and (over the project's error budget) its status `failed` with the reason.
UPDATE ingestion_batches
SET row_count = $2::integer, column_metadata = $3::jsonb, valid_count = $4::integer,
    warning_count = $5::integer, error_count = $6::integer, schema_version = $7::integer,
    status = $8::batch_status, review_note = $9::text, updated_at = now()
WHERE id = $1::uuid
RETURNING id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    jsonb_build_object('valid', valid_count, 'warning', warning_count, 'error', error_count)
        AS status_counts,
    schema_version, review_note, created_at, updated_at;

-- name: review_batch :one
-- Move a pending batch to completed or failed; no row when it is not pending (or not live).
UPDATE ingestion_batches
SET status = $2::batch_status, updated_at = now()
WHERE id = $1::uuid AND status = 'pending_review' AND deleted_at IS NULL
RETURNING id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    jsonb_build_object('valid', valid_count, 'warning', warning_count, 'error', error_count)
        AS status_counts,
    schema_version, review_note, created_at, updated_at;

-- name: soft_delete_batch :scalar
-- Hide one live batch, recording who did it; returns its id, or NULL when there was none.
UPDATE ingestion_batches
SET deleted_at = now(), deleted_by = $2::uuid, updated_at = now()
WHERE id = $1::uuid AND deleted_at IS NULL
RETURNING id;

-- name: soft_delete_batches_for_project :exec
-- Hide every live batch of a project (the project itself is being deleted).
UPDATE ingestion_batches
SET deleted_at = now(), deleted_by = $2::uuid, updated_at = now()
WHERE project_id = $1::uuid AND deleted_at IS NULL;
