-- Project schemas (issue 18): immutable, numbered versions of the fields a project's records
-- must have. The current schema is the newest version, unless it is retired
-- (`DELETE …/schema` retires every version: schemas are off until the next PUT).

-- name: lock_project_for_schema :scalar
-- A live project of this owner, locked until the end of the transaction so that two new
-- versions of its schema are numbered one after the other; NULL when there is none.
SELECT id FROM projects
WHERE id = $1::uuid AND user_id = $2::uuid AND deleted_at IS NULL
FOR NO KEY UPDATE;

-- name: create_schema_version :one
-- The project's next schema version (1 for the first), holding these fields.
INSERT INTO project_schemas (project_id, version, fields, created_by)
SELECT $1::uuid, coalesce(max(version), 0) + 1, $2::jsonb, $3::uuid
FROM project_schemas
WHERE project_id = $1::uuid
RETURNING project_id, version, fields, created_by, created_at, retired_at;

-- name: get_current_schema :one
-- The project's newest schema version, when it is not retired.
SELECT project_id, version, fields, created_by, created_at, retired_at
FROM (
    SELECT project_id, version, fields, created_by, created_at, retired_at
    FROM project_schemas
    WHERE project_id = $1::uuid
    ORDER BY version DESC
    LIMIT 1
) AS newest
WHERE retired_at IS NULL;

-- name: get_schema_by_version :one
-- One version of a project's schema, retired or not.
SELECT project_id, version, fields, created_by, created_at, retired_at
FROM project_schemas
WHERE project_id = $1::uuid AND version = $2::integer;

-- name: retire_schemas :scalar
-- Turn schemas off for the project's later uploads; how many versions were current or live.
WITH retired AS (
    UPDATE project_schemas SET retired_at = now()
    WHERE project_id = $1::uuid AND retired_at IS NULL
    RETURNING 1
)
SELECT count(*) FROM retired;
