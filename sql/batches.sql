-- Ingestion batches: one per upload, created pending review with their row count and column
-- metadata, in the same transaction as their rows.

-- name: create_batch :one
-- A new batch, pending review; its rows are copied in by the same transaction.
INSERT INTO ingestion_batches (project_id, user_id, mode, file_count, row_count, column_metadata)
VALUES ($1::uuid, $2::uuid, $3::batch_mode, $4::integer, $5::integer, $6::jsonb)
RETURNING id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    created_at, updated_at;

-- name: get_batch :one
-- One live batch by id.
SELECT id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    created_at, updated_at
FROM ingestion_batches
WHERE id = $1::uuid AND deleted_at IS NULL;

-- name: list_batches_for_project :many
-- A project's live batches, newest first (id breaks ties).
SELECT id, project_id, user_id, mode, status, file_count, row_count, column_metadata,
    created_at, updated_at
FROM ingestion_batches
WHERE project_id = $1::uuid AND deleted_at IS NULL
ORDER BY created_at DESC, id DESC
LIMIT $2::integer OFFSET $3::integer;

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
