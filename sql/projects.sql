-- Projects: owned by one user, always read through their owner, soft-deleted with their
-- batches.

-- name: create_project :one
-- A new active project for its owner.
INSERT INTO projects (user_id, name, description)
VALUES ($1::uuid, $2::text, $3::text)
RETURNING id, user_id, name, description, status, max_error_rows, max_error_ratio, created_at,
    updated_at;

-- name: get_project :one
-- One live project of this owner.
SELECT id, user_id, name, description, status, max_error_rows, max_error_ratio, created_at,
    updated_at
FROM projects
WHERE id = $1::uuid AND user_id = $2::uuid AND deleted_at IS NULL;

-- name: list_projects_for_owner :many
-- A page of the owner's live projects, newest first (id breaks ties).
SELECT id, user_id, name, description, status, max_error_rows, max_error_ratio, created_at,
    updated_at
FROM projects
WHERE user_id = $1::uuid AND deleted_at IS NULL
ORDER BY created_at DESC, id DESC
LIMIT $2::integer OFFSET $3::integer;

-- name: count_projects_for_owner :scalar
-- How many live projects the owner has.
SELECT count(*) FROM projects WHERE user_id = $1::uuid AND deleted_at IS NULL;

-- name: update_project :one
-- Change the given fields ($3/$5/$7/$9 say whether name/description/status/error budget
-- were given).
UPDATE projects
SET name = CASE WHEN $3::boolean THEN $4::text ELSE name END,
    description = CASE WHEN $5::boolean THEN $6::text ELSE description END,
    status = CASE WHEN $7::boolean THEN $8::project_status ELSE status END,
    max_error_rows = CASE WHEN $9::boolean THEN $10::integer ELSE max_error_rows END,
    max_error_ratio = CASE WHEN $9::boolean THEN $11::double precision ELSE max_error_ratio END,
    updated_at = now()
WHERE id = $1::uuid AND user_id = $2::uuid AND deleted_at IS NULL
RETURNING id, user_id, name, description, status, max_error_rows, max_error_ratio, created_at,
    updated_at;

-- name: soft_delete_project :scalar
-- Hide one live project of this owner; returns its id, or NULL when there was none.
UPDATE projects
SET deleted_at = now(), deleted_by = $2::uuid, updated_at = now()
WHERE id = $1::uuid AND user_id = $2::uuid AND deleted_at IS NULL
RETURNING id;

-- name: lock_deleted_project :scalar
-- When soft-deleted project $1 of owner $2 was deleted (locked until the end of the
-- transaction, which restores it); NULL when there is no such deleted project.
SELECT deleted_at FROM projects
WHERE id = $1::uuid AND user_id = $2::uuid AND deleted_at IS NOT NULL
FOR UPDATE;

-- name: restore_project :one
-- Bring back soft-deleted project $1 of owner $2.
UPDATE projects
SET deleted_at = NULL, deleted_by = NULL, updated_at = now()
WHERE id = $1::uuid AND user_id = $2::uuid AND deleted_at IS NOT NULL
RETURNING id, user_id, name, description, status, max_error_rows, max_error_ratio, created_at,
    updated_at;

-- name: get_project_any_owner :one
-- One live project whoever owns it: for operators (the `sheetflow ingest` command), never HTTP.
SELECT id, user_id, name, description, status, max_error_rows, max_error_ratio, created_at,
    updated_at
FROM projects
WHERE id = $1::uuid AND deleted_at IS NULL;

-- name: lock_project_for_upload :scalar
-- The status of a live project, locked against deletion and change until the end of this
-- transaction (an upload's, just before it commits); NULL when it is not live (any more).
SELECT status FROM projects WHERE id = $1::uuid AND deleted_at IS NULL FOR SHARE;
