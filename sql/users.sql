-- Users: one per token subject (`sub`), created on first sight, kept in step with the
-- token's email and name.

-- name: get_user_by_external_id :one
-- The live user behind a token subject, if already known.
SELECT id, external_id, email, name, created_at, updated_at
FROM users
WHERE external_id = $1::text AND deleted_at IS NULL;

-- name: upsert_user :one
-- Create the user or update email/name; safe under concurrent first requests.
INSERT INTO users (external_id, email, name)
VALUES ($1::text, $2::text, $3::text)
ON CONFLICT (external_id) DO UPDATE
SET email = EXCLUDED.email, name = EXCLUDED.name, updated_at = now()
RETURNING id, external_id, email, name, created_at, updated_at;
